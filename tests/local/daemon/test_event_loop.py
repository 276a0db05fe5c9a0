"""`cloudlb serve --no-uvloop` really runs the standard asyncio loop, and the default really runs uvloop."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudlb_local.testing import running_daemon
from tests.local.daemon.helpers import unique_pool

uvloop = pytest.importorskip("uvloop")  # a base dependency on Linux; the check only means something with it


def _maps_uvloop(pid: int) -> bool:
    """Whether the process has uvloop's extension module mapped, read from the kernel, not from the daemon."""
    return "uvloop" in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.parametrize(
    ("args", "expect_uvloop"),
    [
        pytest.param((), True, id="default-uvloop"),
        pytest.param(("--no-uvloop",), False, id="no-uvloop"),
    ],
)
def test_the_event_loop_flag_decides_which_loop_the_daemon_runs(
    state_dir: Path, args: tuple[str, ...], expect_uvloop: bool
) -> None:
    with running_daemon(state_dir, address_pool=unique_pool(), extra_args=args) as daemon:
        assert _maps_uvloop(daemon.pid) is expect_uvloop
