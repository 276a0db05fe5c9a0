"""``cloudlb mock-server NAME``: serve a provider's fake cloud on loopback for CI pipelines and tests.

Where this sits: provider-neutral. Each provider package brings its fake through the entry-point group
``cloudlb.mock_servers``: ``NAME`` names a factory called as

    factory(port=None | int, seed=(Path, ...), cluster="default", work_dir=None | Path, **options)

that returns a ``MockServer``. ``start()`` serves and seeds the fake and returns the config, ``{"provider": ...,
"cluster": ..., "options": {...}}``, whose ``options`` are ``get_provider``'s keyword arguments for that fake; this
command prints it as the first line on stdout, so ``... | head -1 > cloudlb.json`` is a valid ``--config``. Human
lines go to stderr. SIGINT or SIGTERM stops the fake and exits 0. ``MockServerProcess`` runs the command in a child
process for tests that want the fake isolated from their own process.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.metadata
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any, Protocol, runtime_checkable

import click

from cloudlb.config import DEFAULT_CLUSTER
from cloudlb.errors import ConfigError, ProviderLoadError

__all__ = [
    "ENTRY_POINT_GROUP",
    "MockServer",
    "MockServerFactory",
    "MockServerProcess",
    "available_mock_servers",
    "build_mock_server",
    "mock_server",
    "mock_server_factory",
]

ENTRY_POINT_GROUP = "cloudlb.mock_servers"
START_TIMEOUT = 60.0  # a child imports the SDK and the fake (moto: ~2 s) on a possibly busy CI machine

log = logging.getLogger(__name__)


@runtime_checkable
class MockServer(Protocol):
    """A fake cloud on loopback. ``start()`` returns the config; ``stop()`` is idempotent.

    A fake may also name, in ``url_option``, the option that holds its base URL, so a fault proxy can be put in front
    of it (the pytest plugin does so).
    """

    def start(self) -> dict[str, Any]: ...

    def stop(self) -> None: ...


MockServerFactory = Callable[..., MockServer]


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry_point.name, entry_point)
    return found


def available_mock_servers() -> tuple[str, ...]:
    return tuple(sorted(_entry_points()))


def mock_server_factory(name: str) -> MockServerFactory:
    """The factory registered as ``name``. Unknown or broken plugins raise ``ProviderLoadError`` saying why."""
    entry_points = _entry_points()
    if name not in entry_points:
        known = sorted(entry_points)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listed = ", ".join(known) or "none (install cloudlb[mock] and a provider's extra)"
        raise ProviderLoadError(f"no mock server {name!r}{hint} (available: {listed})")
    entry_point = entry_points[name]
    where = f"mock server {name!r} (entry point {entry_point.value!r})"
    try:
        factory = entry_point.load()
    except ImportError as exc:
        raise ProviderLoadError(f"{where} cannot be imported: {exc}; is cloudlb[mock] installed?") from exc
    except Exception as exc:  # a plugin's import-time bug: report it as that plugin's, in one line
        raise ProviderLoadError(f"{where} failed to load: {type(exc).__name__}: {exc}") from exc
    if not callable(factory):
        raise ProviderLoadError(f"{where} is not callable but {type(factory).__name__}")
    return factory  # type: ignore[no-any-return]


def build_mock_server(
    name: str,
    *,
    port: int | None = None,
    seed: Sequence[str | Path] = (),
    cluster: str = DEFAULT_CLUSTER,
    work_dir: Path | None = None,
    **options: object,
) -> MockServer:
    """Build (not start) the mock server ``name``. An option the factory refuses is a ``ConfigError``."""
    factory = mock_server_factory(name)
    paths = tuple(Path(p) for p in seed)
    try:
        server = factory(port=port, seed=paths, cluster=cluster, work_dir=work_dir, **options)
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc):
            raise ConfigError(f"mock server {name!r}: {exc}") from exc
        raise
    missing = [member for member in ("start", "stop") if not callable(getattr(server, member, None))]
    if missing:
        raise ProviderLoadError(f"mock server {name!r} built {type(server).__name__}, which lacks {', '.join(missing)}")
    return server


# --- the command ---------------------------------------------------------------------------------------------


def _parse_option(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}")
        parsed[key.replace("-", "_")] = value
    return parsed


@click.command("mock-server")
@click.argument("name")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Port on 127.0.0.1. [default: a free one]")
@click.option(
    "--seed",
    "seeds",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    metavar="FILE|DIR",
    help="Manifests whose Nodes become the fake's machines (repeatable). A copy with each Node's spec.providerID "
    "set is written to the work dir.",
)
@click.option("--cluster", default=DEFAULT_CLUSTER, show_default=True, help="Cluster the seeded network is tagged for.")
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the fake writes files (the seeded manifests). [default: a temporary directory, removed on exit]",
)
@click.option(
    "-o",
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    callback=_parse_option,
    help="A fake-specific setting, e.g. -o region=eu-west-1 (repeatable).",
)
def mock_server(
    name: str, port: int, seeds: tuple[Path, ...], cluster: str, work_dir: Path | None, options: dict[str, str]
) -> None:
    """Serve the fake cloud NAME (aws, ...) on loopback until SIGINT or SIGTERM.

    The first line on stdout is a JSON config for it: save it and pass it as --config.

    \b
      cloudlb mock-server aws --seed nodes.yaml > mock.out &
      # once mock.out holds a line:
      head -1 mock.out > cloudlb.json
      cloudlb apply --config cloudlb.json -f service.yaml
    """
    server = build_mock_server(name, port=port or None, seed=seeds, cluster=cluster, work_dir=work_dir, **options)
    root = logging.getLogger()
    if root.getEffectiveLevel() > logging.INFO:  # the fake's own lines (addresses, seeded machines) are the point
        root.setLevel(logging.INFO)
    with _stop_signals() as stopped:
        try:
            config = server.start()
            click.echo(json.dumps(config))
            sys.stdout.flush()
            click.echo(f"mock {name} cloud ready; SIGINT or SIGTERM stops it", err=True)
            while not stopped.wait(0.5):
                pass
        finally:
            server.stop()
    click.echo(f"mock {name} cloud stopped", err=True)


@contextlib.contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while the block runs; the previous handlers come back afterwards."""
    stopped = threading.Event()

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stopped.set()

    if threading.current_thread() is not threading.main_thread():  # signals reach only the main thread
        yield stopped
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopped
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# --- the command in a child process --------------------------------------------------------------------------


class MockServerProcess:
    """``cloudlb mock-server NAME ...`` in a child process: the fake is isolated from the caller's own state.

    ``start()`` returns the config the child printed first; its stderr is kept in a log file (``log_text()``);
    ``stop()`` sends SIGTERM and returns the exit code.
    """

    def __init__(
        self,
        name: str,
        *,
        port: int | None = None,
        seed: Sequence[str | Path] = (),
        cluster: str = DEFAULT_CLUSTER,
        work_dir: Path | None = None,
        options: Mapping[str, object] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.args = ["mock-server", name, "--cluster", cluster]
        self.args += ["--port", str(port)] if port else []
        for path in seed:
            self.args += ["--seed", str(path)]
        self.args += ["--work-dir", str(work_dir)] if work_dir is not None else []
        for key, value in (options or {}).items():
            self.args += ["--option", f"{key}={value}"]
        self.env = dict(env) if env is not None else None
        self.config: dict[str, Any] = {}
        self.process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None
        self._log_path: Path | None = None
        self._log_text = ""

    def start(self, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        if self.process is not None:
            raise RuntimeError("the mock server process was already started")
        fd, log_name = tempfile.mkstemp(prefix=f"cloudlb-mock-{self.name}-", suffix=".log")
        os.close(fd)
        self._log_path = Path(log_name)
        self._log = open(self._log_path, "w")  # noqa: SIM115 - closed in stop()
        command = [sys.executable, "-c", "from cloudlb.cli import main; main()", *self.args]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log, text=True, env=self.env
        )
        try:
            line = _read_line(self.process, timeout)
            self.config = json.loads(line)
        except (TimeoutError, ValueError, EOFError) as exc:
            self.stop()
            raise RuntimeError(f"`cloudlb {' '.join(self.args)}` did not start: {exc}\n{self.log_text()}") from None
        return self.config

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
        if self._log is not None:  # keep what the child said, and leave no file behind
            self._log.close()
            self._log = None
        if self._log_path is not None:
            self._log_text = self._log_path.read_text(errors="replace")
            self._log_path.unlink(missing_ok=True)
            self._log_path = None
        return process.returncode

    def log_text(self) -> str:
        """What the child wrote on stderr so far (all of it, once stopped)."""
        if self._log is not None:
            self._log.flush()
        return self._log_path.read_text(errors="replace") if self._log_path is not None else self._log_text

    def __enter__(self) -> MockServerProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The child's first stdout line, without blocking past ``timeout`` or past the child's death."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while not selector.select(max(0.0, min(0.5, deadline - time.monotonic()))):
            if process.poll() is not None:
                raise EOFError(f"it exited with {process.returncode} before printing its config")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no config line within {timeout:.0f}s")
    line = process.stdout.readline()  # the child writes the line whole and flushes it
    if not line:
        raise EOFError(f"it exited with {process.wait()} before printing its config")
    return line
