"""Event loop choice: uvloop when installed and wanted, asyncio's own otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from cloudlb_local.dataplane import install_event_loop_policy, new_event_loop, run, uvloop_available


@pytest.fixture
def restore_policy() -> Iterator[None]:
    saved = asyncio.get_event_loop_policy()
    yield
    asyncio.set_event_loop_policy(saved)


def _is_uvloop(loop: asyncio.AbstractEventLoop) -> bool:
    return type(loop).__module__.startswith("uvloop")


@pytest.mark.parametrize("use_uvloop", [pytest.param(True, id="prefer-uvloop"), pytest.param(False, id="asyncio")])
def test_new_event_loop(use_uvloop: bool) -> None:
    loop = new_event_loop(use_uvloop=use_uvloop)
    try:
        assert _is_uvloop(loop) is (use_uvloop and uvloop_available())
    finally:
        loop.close()


@pytest.mark.parametrize("use_uvloop", [pytest.param(True, id="prefer-uvloop"), pytest.param(False, id="asyncio")])
def test_run_uses_the_chosen_loop(use_uvloop: bool) -> None:
    async def which() -> bool:
        return _is_uvloop(asyncio.get_running_loop())

    assert run(which(), use_uvloop=use_uvloop) is (use_uvloop and uvloop_available())


@pytest.mark.usefixtures("restore_policy")
@pytest.mark.parametrize("use_uvloop", [pytest.param(True, id="prefer-uvloop"), pytest.param(False, id="asyncio")])
def test_install_event_loop_policy(use_uvloop: bool) -> None:
    installed = install_event_loop_policy(use_uvloop=use_uvloop)

    assert installed is (use_uvloop and uvloop_available())
    loop = asyncio.new_event_loop()
    try:
        assert _is_uvloop(loop) is installed
    finally:
        loop.close()
