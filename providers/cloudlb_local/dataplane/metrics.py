"""Prometheus metrics of the data plane, read from its live counters at scrape time.

Where this sits: ``Dataplane`` registers one ``DataplaneCollector`` on its registry; the daemon serves
``render_metrics(registry)`` on /metrics. The relays only bump plain ints (per connection, never per chunk), and a
scrape turns them into samples, so the hot path makes no Prometheus call at all.

Labels: ``lb`` (the daemon's load balancer id), ``listener`` (``address:port/PROTO``) and ``target``
(``ip:port``). ``direction`` on bytes is ``in`` (client to target) or ``out`` (target to client).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .listener import Listener

__all__ = ["METRICS_CONTENT_TYPE", "DataplaneCollector", "render_metrics"]

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST

_TARGET = ["lb", "listener", "target"]


def render_metrics(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format, for the daemon's /metrics (``METRICS_CONTENT_TYPE``)."""
    return generate_latest(registry)


class DataplaneCollector(Collector):
    def __init__(self, listeners: Callable[[], Iterable[Listener]]) -> None:
        self._listeners = listeners

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def _families(
        self,
    ) -> tuple[
        CounterMetricFamily,
        GaugeMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
        GaugeMetricFamily,
        CounterMetricFamily,
    ]:
        return (
            CounterMetricFamily("cloudlb_connections", "Connections (UDP: flows) relayed to a target.", labels=_TARGET),
            GaugeMetricFamily("cloudlb_active_connections", "Open connections (UDP: flows).", labels=_TARGET),
            CounterMetricFamily("cloudlb_bytes", "Bytes relayed, by direction.", labels=[*_TARGET, "direction"]),
            CounterMetricFamily(
                "cloudlb_refused", "Connections or datagrams refused.", labels=["lb", "listener", "reason"]
            ),
            GaugeMetricFamily("cloudlb_target_healthy", "1 if the target takes new connections.", labels=_TARGET),
            CounterMetricFamily(
                "cloudlb_connect_errors", "Failed connects to a target (each ejects it).", labels=_TARGET
            ),
        )

    def collect(self) -> Iterator[Metric]:
        connections, active, nbytes, refused, healthy, errors = self._families()
        # Sum by label set: a listener that is draining and its re-added successor share labels.
        sums: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
        refusals: dict[tuple[str, ...], int] = defaultdict(int)
        for listener in list(self._listeners()):
            cfg = listener.config
            for reason, count in list(listener.refused.items()):
                refusals[(cfg.lb_id, cfg.name, reason)] += count
            for state in listener.pool.states():
                health = state.health()
                row = sums[(cfg.lb_id, cfg.name, state.target)]
                row[0] += health.total_connections
                row[1] += health.active_connections
                row[2] += health.bytes_in
                row[3] += health.bytes_out
                row[4] = max(row[4], int(health.healthy and not health.draining))
                row[5] += health.connect_errors
        for labels, (total, live, bytes_in, bytes_out, up, failed) in sums.items():
            connections.add_metric(labels, total)
            active.add_metric(labels, live)
            nbytes.add_metric([*labels, "in"], bytes_in)
            nbytes.add_metric([*labels, "out"], bytes_out)
            healthy.add_metric(labels, up)
            errors.add_metric(labels, failed)
        for labels, count in refusals.items():
            refused.add_metric(labels, count)
        yield from (connections, active, nbytes, refused, healthy, errors)
