"""Event loop selection: uvloop when installed, the stock asyncio loop otherwise or on request.

Where this sits: the daemon (and the benchmarks, which compare both loops) create their loop through here, so the
choice is made in one place and can be turned off with a flag rather than an environment variable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["install_event_loop_policy", "new_event_loop", "run", "uvloop_available"]

T = TypeVar("T")


def uvloop_available() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def new_event_loop(*, use_uvloop: bool = True) -> asyncio.AbstractEventLoop:
    """A fresh loop: uvloop's if ``use_uvloop`` and it is installed, else asyncio's default."""
    if use_uvloop and uvloop_available():
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        return loop
    return asyncio.SelectorEventLoop()


def install_event_loop_policy(*, use_uvloop: bool = True) -> bool:
    """Make ``asyncio.run`` and friends use uvloop (or the default). Returns True if uvloop is now in use."""
    if use_uvloop and uvloop_available():
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        return True
    asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    return False


def run(main: Coroutine[Any, Any, T], *, use_uvloop: bool = True, debug: bool | None = None) -> T:
    """``asyncio.run`` on a loop from ``new_event_loop``, without touching the global policy."""
    factory: Callable[[], asyncio.AbstractEventLoop] = lambda: new_event_loop(use_uvloop=use_uvloop)  # noqa: E731
    with asyncio.Runner(debug=debug, loop_factory=factory) as runner:
        return runner.run(main)
