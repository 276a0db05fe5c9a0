"""Bounded waits for the controller's tests: convergence within a generous limit, never a speed assertion."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["settle", "until"]


def until(check: Callable[[], T], *, timeout: float = 30.0, what: str = "the condition") -> T:
    """Poll ``check`` until it returns something truthy, and return that; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last: {value!r}")
        time.sleep(0.05)


def settle(read: Callable[[], T], *, quiet: float = 1.0, timeout: float = 30.0) -> T:
    """Wait until ``read()`` stops changing for ``quiet`` seconds (the controller went idle); its last value."""
    deadline = time.monotonic() + timeout
    last = read()
    since = time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise AssertionError(f"still changing after {timeout:g}s: {last!r}")
        time.sleep(0.05)
        value = read()
        if value != last:
            last, since = value, time.monotonic()
    return last
