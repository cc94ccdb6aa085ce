"""Where the server (or the terminal) reaches a deployed app: the URL the deploy step
reports, which the health watch probes."""

from __future__ import annotations

import pytest

from conveyor.actions.deploy_django import reachable_url
from conveyor.deploy.state import DeployError


@pytest.mark.parametrize(
    ("target", "bind", "url"),
    [
        ("/srv/shop", "127.0.0.1:8001", "http://127.0.0.1:8001"),
        ("/srv/shop", "0.0.0.0:8001", "http://127.0.0.1:8001"),
        ("ssh://deploy@shop.example/srv/shop", "0.0.0.0:8001", "http://shop.example:8001"),
        ("ssh://deploy@shop.example:2222/srv/shop", "10.0.0.5:8001", "http://10.0.0.5:8001"),
        ("ssh://deploy@shop.example/srv/shop", "127.0.0.1:8001", ""),
        ("ssh://deploy@127.0.0.1:2222/srv/shop", "127.0.0.1:8001", "http://127.0.0.1:8001"),
    ],
)
def test_the_url_is_one_this_machine_reaches(target: str, bind: str, url: str) -> None:
    assert reachable_url(target, bind) == url


def test_a_broken_ssh_target_is_said() -> None:
    with pytest.raises(DeployError, match="ssh://"):
        reachable_url("ssh:///srv/shop", "127.0.0.1:8001")
