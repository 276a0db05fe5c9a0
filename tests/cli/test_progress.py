"""The progress hook: a spinner on a terminal, the debug log otherwise, and always reset afterwards."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator

import pytest

from cloudlb import output, retry
from cloudlb.model import LoadBalancerSpec, LoadBalancerStatus, OwnedLoadBalancer
from cloudlb.provider import register_provider, unregister_provider
from tests.cli.conftest import Invoke, Write, service
from tests.support.memory import MemoryProvider
from tests.support.memory_cloud import MemoryCloud


class _Waiting(MemoryProvider):
    """Reports progress while it "waits on the cloud", the way providers call report_progress from wait_for."""

    def ensure(self, spec: LoadBalancerSpec) -> LoadBalancerStatus:
        retry.report_progress("waiting for ACTIVE")
        return super().ensure(spec)

    def delete(self, spec: LoadBalancerSpec | OwnedLoadBalancer) -> bool:
        retry.report_progress("waiting for DELETED")
        return super().delete(spec)


@pytest.fixture
def waiting(memory_cloud: MemoryCloud) -> Iterator[None]:
    register_provider("waiting", lambda: _Waiting(memory_cloud))
    try:
        yield
    finally:
        unregister_provider("waiting")


def test_quiet_when_stderr_is_not_a_terminal(waiting: None, invoke: Invoke, write: Write) -> None:
    result = invoke("apply", "--provider", "waiting", "-f", write("web.yaml", service()))

    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert retry.progress_hook.get() is None


def test_progress_goes_to_the_debug_log(waiting: None, invoke: Invoke, write: Write) -> None:
    path = write("web.yaml", service())

    applied = invoke("apply", "--provider", "waiting", "-f", path, "--debug")
    deleted = invoke("delete", "--provider", "waiting", "shop/web", "--debug")

    assert "applying shop/web: waiting for ACTIVE" in applied.stderr
    assert "deleting shop/web: waiting for DELETED" in deleted.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_spinner_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)

    with output.progress("applying shop/web"):
        hook = retry.progress_hook.get()
        assert hook is not None
        hook("waiting for ACTIVE")

    assert retry.progress_hook.get() is None
    assert "applying shop/web" in terminal.getvalue()
