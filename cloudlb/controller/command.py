"""``cloudlb controller``: the click command that runs the controller.

Where this sits: the ``cloudlb`` group loads it through the ``cloudlb.commands`` entry point ``controller``, and
``python -m cloudlb.controller`` runs it directly. It imports the ``kubernetes`` client only when it runs, so a
missing ``kube`` extra is one clear error line instead of a broken command list.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import click

from cloudlb.cli_commands import debug_option
from cloudlb.config import resolve_config
from cloudlb.errors import CloudLBError, ConfigError

__all__ = ["controller"]

_CLASS = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


class LostLeadership(CloudLBError):
    """The replica lost its lease; it exits so that it restarts clean."""


def _lease_name(load_balancer_class: str) -> str:
    suffix = re.sub(r"[^a-z0-9-]+", "-", load_balancer_class.split("/", 1)[1].lower()).strip("-")
    return f"cloudlb-controller-{suffix}" if suffix else "cloudlb-controller"


@click.command("controller")
@click.option(
    "--provider", "provider_name", metavar="NAME", help="The provider (default: the config file's, or local)."
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="CLOUDLB_CONFIG",
    help="YAML with provider, cluster and options (the provider's keyword arguments). [env: CLOUDLB_CONFIG]",
)
@click.option(
    "--cluster", metavar="NAME", help="The cluster name in every ownership tag (default: config, or default)."
)
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Default: $KUBECONFIG, in-cluster, ~/.kube/config.")
@click.option("--context", "kube_context", metavar="NAME", help="The kubeconfig context to use.")
@click.option(
    "--class",
    "load_balancer_class",
    metavar="cloudlb.io/NAME",
    help="Handle Services with this spec.loadBalancerClass. [default: cloudlb.io/<provider>]",
)
@click.option("--default-class", is_flag=True, help="Also handle LoadBalancer Services that have no class.")
@click.option("--workers", type=click.IntRange(1, 64), default=4, show_default=True, help="Concurrent reconciles.")
@click.option("--resync-period", type=click.FloatRange(min=1), default=600.0, show_default=True, metavar="SECONDS")
@click.option(
    "--min-sync-interval",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="At most one reconcile per Service per interval: bursts of events merge.",
)
@click.option("--leader-elect/--no-leader-elect", default=True, show_default=True)
@click.option("--lease-name", metavar="NAME", help="[default: cloudlb-controller-<class name>]")
@click.option("--lease-namespace", metavar="NS", help="[default: $POD_NAMESPACE, the Pod's namespace, or default]")
@click.option("--lease-duration", type=click.FloatRange(min=1), default=15.0, show_default=True, metavar="SECONDS")
@click.option("--renew-deadline", type=click.FloatRange(min=0.5), default=10.0, show_default=True, metavar="SECONDS")
@click.option("--retry-period", type=click.FloatRange(min=0.1), default=2.0, show_default=True, metavar="SECONDS")
@click.option("--identity", metavar="ID", help="This replica's lease identity. [default: $POD_NAME or host, + random]")
@click.option(
    "--metrics-address",
    default="127.0.0.1:10258",
    show_default=True,
    metavar="HOST:PORT",
    help="Where /metrics, /healthz and /readyz are served; in a Pod use 0.0.0.0:PORT. Empty: not served.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@debug_option
def controller(**options: Any) -> None:
    """Run the Kubernetes controller: give every LoadBalancer Service of our class a load balancer.

    \b
    Examples:
      cloudlb controller --provider local --kubeconfig ~/.kube/config --default-class
      cloudlb controller --config /etc/cloudlb/config.yaml --metrics-address 0.0.0.0:10258   # in a Pod

    Several replicas may run: one leads through a coordination.k8s.io Lease and the others stand by. SIGTERM
    stops the workers and releases the lease. A replica that loses its lease exits with status 1.
    """
    config = resolve_config(
        config_path=options["config_path"], provider=options["provider_name"], cluster=options["cluster"]
    )
    load_balancer_class = options["load_balancer_class"] or f"cloudlb.io/{config.provider}"
    if not _CLASS.match(load_balancer_class):
        raise ConfigError(f"--class {load_balancer_class!r} is not a class name like cloudlb.io/NAME")
    if options["leader_elect"] and not (
        0 < options["retry_period"] < options["renew_deadline"] < options["lease_duration"]
    ):
        raise ConfigError("leader election needs --retry-period < --renew-deadline < --lease-duration")
    try:
        from cloudlb.controller.kubeclient import KubeClient
        from cloudlb.controller.manager import Settings
        from cloudlb.controller.runner import LeaderSettings, Process, default_identity, default_namespace
    except ImportError as exc:
        raise ConfigError(f"the controller needs the kubernetes client: pip install 'cloudlb[kube]' ({exc})") from exc
    from cloudlb.provider import get_provider

    provider = get_provider(config.provider, **config.options)
    try:
        client = KubeClient.connect(options["kubeconfig"], context=options["kube_context"])
    except Exception as exc:  # the client raises its own ConfigException, or OSError for an unreadable file
        raise ConfigError(f"cannot load the Kubernetes configuration: {exc}") from exc
    settings = Settings(
        cluster=config.cluster,
        load_balancer_class=load_balancer_class,
        default_class=options["default_class"],
        workers=options["workers"],
        resync_period=options["resync_period"],
        min_sync_interval=options["min_sync_interval"],
    )
    leader = LeaderSettings(
        enabled=options["leader_elect"],
        namespace=options["lease_namespace"] or default_namespace(),
        name=options["lease_name"] or _lease_name(load_balancer_class),
        identity=options["identity"] or default_identity(),
        lease_duration=options["lease_duration"],
        renew_deadline=options["renew_deadline"],
        retry_period=options["retry_period"],
    )
    try:
        process = Process(client, provider, settings, leader, metrics_address=options["metrics_address"] or None)
    except (OSError, ValueError) as exc:  # the address is taken, or not HOST:PORT
        client.close()
        raise ConfigError(f"--metrics-address {options['metrics_address']}: cannot serve there: {exc}") from exc
    with _log_level(options["log_level"]), _signals_stop(process.stop):
        logging.getLogger("cloudlb.controller").info(
            "cloudlb controller %s: provider %s, cluster %s, class %s%s, lease %s/%s",
            leader.identity,
            config.provider,
            config.cluster,
            load_balancer_class,
            " (and Services with no class)" if settings.default_class else "",
            leader.namespace,
            leader.name,
        )
        code = process.run()
    client.close()
    if code:
        raise LostLeadership(f"lost lease {leader.namespace}/{leader.name}; exiting so the replica restarts clean")


@contextmanager
def _log_level(level: str) -> Iterator[None]:
    # The cloudlb group lets only warnings through by default; a controller's info lines are its audit trail.
    loggers = [logging.getLogger("cloudlb"), logging.getLogger("cloudlb_local")]
    saved = [logger.level for logger in loggers]
    debugging = logging.getLogger().level == logging.DEBUG  # --debug was given
    for logger in loggers:
        logger.setLevel(logging.DEBUG if debugging else level.upper())
    try:
        yield
    finally:
        for logger, old in zip(loggers, saved, strict=True):
            logger.setLevel(old)


@contextmanager
def _signals_stop(stop: Any) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may install handlers (tests run the command in a thread)
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop()

    saved = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)
