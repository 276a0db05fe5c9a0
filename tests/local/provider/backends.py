"""Real backends and clients on loopback for the local provider's tests.

A ``TcpBackend`` answers each connection with its name and a newline, then keeps the connection open until the client
closes it, so a test can hold connections (least-connections) or keep them in flight (draining). A ``UdpBackend``
answers each datagram with its name. Clients can bind a source address, which is how source-ip affinity and source
ranges are observed. Everything binds 127.0.0.0/8 only.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from cloudlb.model import Target

__all__ = [
    "TcpBackend",
    "UdpBackend",
    "ask",
    "ask_udp",
    "common_port",
    "eventually",
    "hold",
    "targets",
    "tcp_backends",
]


class TcpBackend:
    """Answers ``name\\n`` to each connection (after ``delay`` seconds), then waits for the client to close."""

    def __init__(self, name: str, ip: str, port: int = 0, *, delay: float = 0.0) -> None:
        self.name, self.ip, self.delay = name, ip, delay
        self.accepted = 0
        self._sock = socket.create_server((ip, port), backlog=128)
        self.port: int = self._sock.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name=f"tcp-{name}", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # listener closed
            with self._lock:
                self.accepted += 1
                self._conns.add(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(30)
            if self.delay:
                time.sleep(self.delay)
            conn.sendall(f"{self.name}\n".encode())
            while conn.recv(4096):  # until the client closes
                pass
        except OSError:
            pass
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def close_listener(self) -> None:
        """Stop accepting; connections already accepted are served to the end (a draining pod)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    def stop(self) -> None:
        """Stop accepting and drop every open connection (a node that went away)."""
        self.close_listener()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def join(self, timeout: float = 10.0) -> None:
        for thread in list(self._threads):
            thread.join(timeout)


class UdpBackend:
    """Answers every datagram with its name."""

    def __init__(self, name: str, ip: str, port: int = 0) -> None:
        self.name, self.ip = name, ip
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((ip, port))
        self.port: int = self._sock.getsockname()[1]
        threading.Thread(target=self._serve, name=f"udp-{name}", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                _, peer = self._sock.recvfrom(2048)
                self._sock.sendto(self.name.encode(), peer)
            except OSError:
                return

    def stop(self) -> None:
        self._sock.close()


def common_port(ips: Sequence[str], kind: int = socket.SOCK_STREAM) -> int:
    """A port free on every one of ``ips`` (a nodePort all the "nodes" can listen on)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind((ips[0], 0))
            port: int = probe.getsockname()[1]
        try:
            with contextlib.ExitStack() as stack:
                for ip in ips:
                    sock = stack.enter_context(socket.socket(socket.AF_INET, kind))
                    sock.bind((ip, port))
            return port
        except OSError:
            continue
    raise RuntimeError(f"no common free port on {ips}")


def targets(*backends: TcpBackend | UdpBackend) -> frozenset[Target]:
    return frozenset(Target(b.ip, b.port) for b in backends)


def _connect(ip: str, port: int, source: str | None, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        if source is not None:
            sock.bind((source, 0))
        sock.connect((ip, port))
    except OSError:
        sock.close()
        raise
    return sock


def _read_line(sock: socket.socket) -> str | None:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(256)
        if not chunk:
            return None  # closed by the balancer: no backend, or refused by source ranges
        data += chunk
    return data.decode().strip()


def ask(ip: str, port: int, *, source: str | None = None, timeout: float = 3.0) -> str | None:
    """One connection through the balancer: the name of the backend that answered, or None if none did."""
    try:
        with _connect(ip, port, source, timeout) as sock:
            return _read_line(sock)
    except OSError:
        return None


def hold(ip: str, port: int, *, timeout: float = 3.0) -> tuple[socket.socket, str]:
    """Open a connection and keep it: (the socket, the backend's name)."""
    sock = _connect(ip, port, None, timeout)
    name = _read_line(sock)
    if name is None:
        sock.close()
        raise AssertionError(f"no backend answered on {ip}:{port}")
    return sock, name


def ask_udp(ip: str, port: int, *, timeout: float = 0.5) -> str | None:
    """One datagram from a fresh source port (a new flow): the name in the answer, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.bind(("127.0.0.1", 0))
        try:
            sock.sendto(b"ping", (ip, port))
            data, _ = sock.recvfrom(2048)
        except OSError:
            return None
        return data.decode()


def eventually(check: Callable[[], bool], *, timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll ``check`` until it holds; True if it did within ``timeout``. For convergence, never for speed."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


@contextlib.contextmanager
def tcp_backends(ips: Sequence[str], *, delay: float = 0.0, prefix: str = "b") -> Iterator[list[TcpBackend]]:
    """One backend per address, all on one port; stopped on exit."""
    port = common_port(ips)
    backends = [TcpBackend(f"{prefix}{ip.rsplit('.', 1)[1]}", ip, port, delay=delay) for ip in ips]
    try:
        yield backends
    finally:
        for backend in backends:
            backend.stop()
