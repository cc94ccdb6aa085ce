"""What the server's history says about delivery: ``/metrics`` for Prometheus and the
DORA four keys per repository and environment."""
