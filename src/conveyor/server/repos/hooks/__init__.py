"""Local repositories' ``post-receive`` hook (install, remove) and turning pushes into runs."""
