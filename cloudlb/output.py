"""How the ``cloudlb`` command shows things: rich tables for people, JSON or YAML for scripts, a spinner on stderr.

Where this sits: ``cloudlb.cli`` decides what to show and calls these functions to show it; nothing here talks to a
provider. Data shown as JSON/YAML comes from ``cloudlb.serialize`` and ``Plan.to_dict``. Table cells are ``Text``
objects, never markup strings, so a value such as ``[::1]`` in a manifest is printed as written.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from cloudlb import retry
from cloudlb.annotations import AnnotationUse
from cloudlb.model import LoadBalancerSpec, LoadBalancerStatus, OwnedLoadBalancer, PortStatus

__all__ = [
    "FORMATS",
    "OutputFormat",
    "StatusRow",
    "annotations_table",
    "dump",
    "emit",
    "owned_table",
    "print_renderables",
    "progress",
    "spec_renderables",
    "status_table",
]

log = logging.getLogger(__name__)

OutputFormat = Literal["text", "json", "yaml"]
FORMATS: tuple[OutputFormat, ...] = ("text", "json", "yaml")

# Wide enough that tables piped to a file or a CI log are not wrapped at 80 columns.
_PIPE_WIDTH = 160


def dump(data: Any, fmt: OutputFormat) -> str:
    """Serialize plain data as JSON or YAML, ending with a newline."""
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    raise ValueError(f"not a data format: {fmt!r}")


def emit(data: Any, fmt: OutputFormat) -> None:
    """Write plain data to stdout as JSON or YAML."""
    sys.stdout.write(dump(data, fmt))
    sys.stdout.flush()


def _console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    width: int | None = None
    if not stream.isatty() and "COLUMNS" not in os.environ:
        width = _PIPE_WIDTH
    # Bound to the current stream at call time: click's CliRunner swaps sys.stdout per invocation.
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def print_renderables(renderables: Iterable[RenderableType]) -> None:
    console = _console()
    for renderable in renderables:
        console.print(renderable)


def _table(*columns: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _cells(*values: object) -> list[Text]:
    return [Text("-" if value is None or value == "" else str(value)) for value in values]


# --- status ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusRow:
    """One line of a status table; ``status=None`` means the provider found no load balancer."""

    service: str
    load_balancer: str
    status: LoadBalancerStatus | None


def _port(port: PortStatus) -> str:
    return f"{port.port}/{port.protocol}"


def status_table(rows: Sequence[StatusRow]) -> Table:
    """Service, load balancer, ingress addresses, ports and per-port errors."""
    table = _table("SERVICE", "LOAD BALANCER", "INGRESS", "PORTS", "ERRORS")
    for row in rows:
        if row.status is None:
            table.add_row(*_cells(row.service, row.load_balancer, "(not found)", None, None))
            continue
        status = row.status
        ingress = ", ".join(i.ip or i.hostname or "?" for i in status.ingress) or "(pending)"
        ports = ", ".join(dict.fromkeys(_port(p) for i in status.ingress for p in i.ports))
        errors = "; ".join(dict.fromkeys(f"{_port(p)}: {p.error}" for p in status.errors))
        error_cell = Text(errors, style="bold red") if errors else Text("-")
        table.add_row(*_cells(row.service, status.cloud_name or row.load_balancer, ingress, ports), error_cell)
    return table


# --- list / gc -------------------------------------------------------------------------------------------------


def owned_table(owned: Sequence[OwnedLoadBalancer], *, actions: Sequence[str] | None = None) -> Table:
    """What a cluster owns; ``actions`` (one per row) adds a column saying what gc did or would do."""
    columns = ["SERVICE", "UID", "CLOUD NAME", "CLOUD ID"] + (["ACTION"] if actions is not None else [])
    table = _table(*columns)
    for row, lb in enumerate(owned):
        extra = [actions[row]] if actions is not None else []
        table.add_row(*_cells(lb.ref.service, lb.uid, lb.cloud_name, lb.cloud_id, *extra))
    return table


# --- render ----------------------------------------------------------------------------------------------------


def annotations_table(uses: Sequence[AnnotationUse]) -> Table:
    """Each annotation and who acts on it: core applies it, a named provider honours it, or nobody does."""
    table = _table("ANNOTATION", "VALUE", "USE", "PROVIDER", "MEANING")
    for use in uses:
        if use.use.value == "unknown":
            style = "bold red"
        elif use.use.value == "ignored":
            style = "dim"
        else:
            style = ""
        provider = use.provider or ("all" if use.use.value == "core" else None)
        cells = _cells(use.key, _clip(use.value), use.use.value, provider, use.description)
        for cell in cells:
            cell.stylize(style)
        table.add_row(*cells)
    return table


def _clip(value: str, limit: int = 60) -> str:
    # kubectl's last-applied-configuration alone can be kilobytes of JSON; a table cell needs only a glimpse.
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _address_key(key: tuple[str, int]) -> tuple[int, int, str, int]:
    try:
        address = ipaddress.ip_address(key[0])
    except ValueError:
        return (9, 0, key[0], key[1])
    return (address.version, int(address), "", key[1])


def _targets_table(spec: LoadBalancerSpec) -> Table:
    table = _table("TARGET", "NODE", "LISTENERS")
    listeners_of: dict[tuple[str, int], list[str]] = {}
    nodes: dict[tuple[str, int], str | None] = {}
    for listener in spec.listeners:
        for target in listener.targets:
            key = (target.ip, target.port)
            listeners_of.setdefault(key, []).append(listener.name or str(listener.port))
            nodes[key] = target.node_name
    for ip, port in sorted(listeners_of, key=_address_key):
        address = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        table.add_row(*_cells(address, nodes[(ip, port)], ", ".join(listeners_of[(ip, port)])))
    return table


def spec_renderables(spec: LoadBalancerSpec, uses: Sequence[AnnotationUse]) -> list[RenderableType]:
    """The provider-neutral spec of one Service, for ``cloudlb render``."""
    hc = spec.health_check
    affinity = str(spec.session_affinity)
    if spec.session_affinity.value == "ClientIP":
        affinity += f" (timeout {spec.affinity_timeout}s)"
    settings = [
        ("scheme", str(spec.scheme)),
        ("target mode", str(spec.target_mode)),
        ("algorithm", str(spec.algorithm)),
        ("proxy protocol", str(spec.proxy_protocol)),
        ("session affinity", affinity),
        ("source ranges", ", ".join(spec.source_ranges) or "(anywhere)"),
        ("load balancer IP", spec.load_balancer_ip or "(any)"),
        ("IP families", ", ".join(str(f) for f in spec.ip_families)),
        ("traffic policy", str(spec.traffic_policy)),
        (
            "health check",
            f"{hc.protocol} port {hc.port or 'traffic-port'}"
            + (f" path {hc.path}" if hc.path else "")
            + f", every {hc.interval:g}s, timeout {hc.timeout:g}s,"
            f" healthy after {hc.healthy_threshold}, unhealthy after {hc.unhealthy_threshold}",
        ),
    ]
    if spec.health_check_node_port:
        settings.append(("health check node port", str(spec.health_check_node_port)))
    if spec.tags:
        settings.append(("tags", ", ".join(f"{k}={v}" for k, v in spec.tags.items())))
    header = Text(f"Service {spec.namespace}/{spec.name}", style="bold")
    header.append(f"  (cluster {spec.cluster}, uid {spec.uid or '-'})", style="")
    details = Table.grid(padding=(0, 2))
    details.add_column(style="dim")
    details.add_column()
    for key, value in settings:
        details.add_row(Text(key), Text(value))
    listeners = _table("LISTENER", "PROTOCOL", "PORT", "NODEPORT", "TARGETPORT", "TARGETS")
    for listener in spec.listeners:
        listeners.add_row(
            *_cells(
                listener.name,
                listener.protocol,
                listener.port,
                listener.node_port,
                listener.target_port,
                len(listener.targets),
            )
        )
    out: list[RenderableType] = [header, details, Text(""), listeners]
    if spec.targets:
        out += [Text(""), _targets_table(spec)]
    else:
        out += [Text("(no targets)", style="yellow")]
    out += [Text("")]
    out += [annotations_table(uses)] if uses else [Text("(no annotations)", style="dim")]
    return out


# --- progress --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def progress(message: str) -> Iterator[None]:
    """Show a spinner on stderr while a provider works; providers update its text through ``retry.progress_hook``.

    Only on a terminal: in a pipe or a CI log a spinner is noise, so there the messages go to the debug log.
    """
    if not sys.stderr.isatty():
        token = retry.progress_hook.set(lambda text: log.debug("%s: %s", message, text))
        try:
            yield
        finally:
            retry.progress_hook.reset(token)
        return
    console = _console(stderr=True)
    with console.status(Text(message)) as status:
        token = retry.progress_hook.set(lambda text: status.update(Text(f"{message}: {text}")))
        try:
            yield
        finally:
            retry.progress_hook.reset(token)
