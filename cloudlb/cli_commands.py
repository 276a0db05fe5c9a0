"""The built-in subcommands of ``cloudlb`` and the options they share.

Where this sits: ``cloudlb.cli`` owns the group, error reporting and plugins, and adds these commands. Every
command that reads manifests parses all of them first, so bad input fails (exit 2) before any provider is created;
only then is the provider built from the resolved ``Config`` and called. Errors are raised, not printed: the group
turns them into one line and an exit code.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import click
from rich.text import Text

from cloudlb import output
from cloudlb.annotations import explain
from cloudlb.config import DEFAULT_CLUSTER, Config, resolve_config
from cloudlb.kube import is_managed, load_manifests, specs_from_documents
from cloudlb.manifests import load_documents
from cloudlb.model import LoadBalancerSpec, OwnedLoadBalancer
from cloudlb.output import FORMATS, OutputFormat, StatusRow
from cloudlb.provider import Provider, get_provider
from cloudlb.serialize import owned_to_dict, spec_to_dict, status_to_dict, to_plain

__all__ = ["COMMANDS", "DEBUG_KEY", "Common", "debug_option", "provider_options"]

log = logging.getLogger(__name__)

DEBUG_KEY = "cloudlb.debug"  # in ctx.meta, which every nested click context shares


def _enable_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[DEBUG_KEY] = True
        logging.getLogger().setLevel(logging.DEBUG)


# --- shared options --------------------------------------------------------------------------------------------

F = Callable[..., Any]

debug_option = click.option(
    "--debug",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_enable_debug,
    help="Log at DEBUG level to stderr and print the traceback of any error.",
)
_output_option = click.option(
    "-o",
    "--output",
    "output_format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text: tables for people; json or yaml: one document for scripts.",
)
_filename_option = click.option(
    "-f",
    "--filename",
    "filenames",
    multiple=True,
    metavar="FILE",
    help="Manifest file (YAML or JSON, multi-document, Lists too), a directory of *.yaml/*.yml/*.json files, "
    "or - for stdin. Repeatable.",
)
_cluster_option = click.option(
    "--cluster", metavar="NAME", help="Cluster name used in ownership tags. [default: config file's, else default]"
)


@dataclass(frozen=True, slots=True)
class Common:
    """The options every provider command shares."""

    provider: str | None
    cluster: str | None
    config: str | None
    output: OutputFormat

    def resolve(self) -> Config:
        return resolve_config(config_path=self.config, provider=self.provider, cluster=self.cluster)


def provider_options(f: F) -> F:
    """Add --provider, --cluster, --config, -o and --debug; the command receives them as ``common``."""

    @functools.wraps(f)
    def wrapper(*args: Any, provider: str | None, cluster: str | None, config: str | None, **kwargs: Any) -> Any:
        output_format = cast(OutputFormat, kwargs.pop("output_format"))
        return f(*args, common=Common(provider, cluster, config, output_format), **kwargs)

    for option in (
        debug_option,
        _output_option,
        click.option(
            "--config",
            metavar="FILE",
            envvar="CLOUDLB_CONFIG",
            show_envvar=True,
            help="Config file: YAML with keys provider, cluster, options (the provider's keyword arguments).",
        ),
        _cluster_option,
        click.option("--provider", metavar="NAME", help="Provider to use. [default: config file's, else local]"),
    ):
        wrapper = option(wrapper)
    return wrapper


def _load(filenames: Sequence[str], cluster: str) -> list[LoadBalancerSpec]:
    specs = load_manifests(filenames, cluster=cluster)
    if not specs:
        log.warning("no Service of type LoadBalancer in %s", ", ".join(filenames))
    return specs


def _require_files(filenames: Sequence[str]) -> None:
    if not filenames:
        raise click.UsageError("give the manifests with -f/--filename FILE (or -f - for stdin)")


def _connect(config: Config) -> Provider:
    log.debug("provider %s (cluster %s, config %s)", config.provider, config.cluster, config.source or "none")
    return get_provider(config.provider, **config.options)


def _service(spec: LoadBalancerSpec | OwnedLoadBalancer) -> str:
    return f"{spec.namespace}/{spec.name}"


@click.command()
@_filename_option
@click.option("--dry-run", is_flag=True, help="Only show the plan; make no change (same as `cloudlb plan`).")
@provider_options
def apply(filenames: tuple[str, ...], dry_run: bool, common: Common) -> None:
    """Create or converge load balancers from manifests.

    Each LoadBalancer Service in the manifests gets its load balancer.
    Prints each plan, then (unless --dry-run) applies it and prints the status. Exits 1 when the cloud reports
    an error on any port (for example, a port the local provider could not bind).

    \b
    Example:
      cloudlb apply -f service.yaml -f nodes.yaml
    """
    _apply(filenames, common, dry_run=dry_run)


@click.command()
@_filename_option
@provider_options
def plan(filenames: tuple[str, ...], common: Common) -> None:
    """Show what apply would change; change nothing.

    \b
    Example:
      cloudlb plan -f service.yaml -o json
    """
    _apply(filenames, common, dry_run=True)


def _apply(filenames: tuple[str, ...], common: Common, *, dry_run: bool) -> None:
    _require_files(filenames)
    config = common.resolve()
    specs = _load(filenames, config.cluster)
    provider = _connect(config)
    results: list[dict[str, Any]] = []
    failed: list[str] = []
    for spec in specs:
        the_plan = provider.plan(spec)
        if common.output == "text":
            click.echo(str(the_plan))
        result: dict[str, Any] = {"service": _service(spec), "plan": the_plan.to_dict()}
        if not dry_run:
            with output.progress(f"applying {_service(spec)}"):
                status = provider.ensure(spec)
            result["status"] = status_to_dict(status)
            failed += [f"{_service(spec)}: port {p.port}/{p.protocol}: {p.error}" for p in status.errors]
            if common.output == "text":
                row = StatusRow(_service(spec), the_plan.load_balancer, status)
                output.print_renderables([Text(""), output.status_table([row])])
        results.append(result)
    if common.output != "text":
        output.emit(results, common.output)
    if failed:
        for line in failed:
            click.echo(f"error: {line}", err=True)
        raise click.exceptions.Exit(1)


@click.command()
@_filename_option
@provider_options
def get(filenames: tuple[str, ...], common: Common) -> None:
    """Show the status of each Service's load balancer.

    A load balancer that does not exist is shown as not found; that is not an error.

    \b
    Example:
      cloudlb get -f service.yaml
    """
    _require_files(filenames)
    config = common.resolve()
    specs = _load(filenames, config.cluster)
    provider = _connect(config)
    rows = [StatusRow(_service(s), provider.load_balancer_name(s), provider.get(s)) for s in specs]
    if common.output == "text":
        output.print_renderables([output.status_table(rows)])
        return
    data = [
        {
            "service": row.service,
            "load_balancer": row.load_balancer,
            "found": row.status is not None,
            "status": status_to_dict(row.status) if row.status is not None else None,
        }
        for row in rows
    ]
    output.emit(data, common.output)


@click.command("list")
@provider_options
def list_(common: Common) -> None:
    """List the load balancers a cluster owns.

    They are found by cloudlb's ownership tags, never by name.

    \b
    Example:
      cloudlb list --cluster prod -o yaml
    """
    config = common.resolve()
    owned = _connect(config).list_owned(config.cluster)
    if common.output == "text" and not owned:
        click.echo(f"cluster {config.cluster}: owns no load balancers")
    elif common.output == "text":
        output.print_renderables([output.owned_table(owned)])
    else:
        output.emit([owned_to_dict(o) for o in owned], common.output)


@click.command()
@_filename_option
@provider_options
def sync(filenames: tuple[str, ...], common: Common) -> None:
    """Update only the target pools of existing load balancers.

    The targets (nodes, or pods in pod mode) come from the Nodes and EndpointSlices in the manifests.

    \b
    Example:
      kubectl get svc/web nodes -o yaml | cloudlb sync -f -
    """
    _require_files(filenames)
    config = common.resolve()
    specs = _load(filenames, config.cluster)
    provider = _connect(config)
    data: list[dict[str, Any]] = []
    for spec in specs:
        with output.progress(f"syncing targets of {_service(spec)}"):
            provider.update_targets(spec)
        data.append({"service": _service(spec), "targets": len(spec.targets)})
        if common.output == "text":
            click.echo(f"{_service(spec)}: targets synced ({len(spec.targets)} targets)")
    if common.output != "text":
        output.emit(data, common.output)


def _parse_ref(text: str, cluster: str, uid: str) -> LoadBalancerSpec:
    namespace, sep, name = text.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise click.BadParameter(f"{text!r} is not NAMESPACE/NAME", param_hint="NAMESPACE/NAME")
    # Identity only: get and delete need nothing else, so a Service that is already gone can be cleaned up.
    return LoadBalancerSpec(cluster=cluster, namespace=namespace, name=name, uid=uid)


@click.command()
@click.argument("refs", nargs=-1, metavar="[NAMESPACE/NAME]...")
@_filename_option
@click.option("--uid", default="", metavar="UID", help="The Service's uid, with a single NAMESPACE/NAME.")
@click.option("--dry-run", is_flag=True, help="Only show what would be deleted.")
@provider_options
def delete(refs: tuple[str, ...], filenames: tuple[str, ...], uid: str, dry_run: bool, common: Common) -> None:
    """Delete load balancers, by manifest or by NAMESPACE/NAME.

    Only the identity of a Service is needed, so a Service that is already gone can be cleaned up. Deleting what
    is already gone succeeds and says so.

    \b
    Examples:
      cloudlb delete -f service.yaml
      cloudlb delete default/web --cluster prod
    """
    if bool(refs) == bool(filenames):
        raise click.UsageError("give either -f/--filename or NAMESPACE/NAME arguments (one of the two)")
    if uid and len(refs) != 1:
        raise click.UsageError("--uid needs exactly one NAMESPACE/NAME argument")
    config = common.resolve()
    specs = [_parse_ref(r, config.cluster, uid) for r in refs] if refs else _load(filenames, config.cluster)
    provider = _connect(config)
    data: list[dict[str, Any]] = []
    for spec in specs:
        name = provider.load_balancer_name(spec)
        if dry_run:
            result = "would-delete" if provider.get(spec) is not None else "absent"
        else:
            with output.progress(f"deleting {_service(spec)}"):
                result = "deleted" if provider.delete(spec) else "absent"
        data.append({"service": _service(spec), "load_balancer": name, "result": result})
        if common.output == "text":
            words = {"deleted": "deleted", "would-delete": "would be deleted", "absent": "already absent"}
            click.echo(f"{_service(spec)}: load balancer {name} {words[result]}")
    if common.output != "text":
        output.emit(data, common.output)


def _is_live(owned: OwnedLoadBalancer, live: dict[tuple[str, str], set[str]]) -> bool:
    """Live when a given Service has its namespace/name and, if both sides know a uid, the same uid.

    A uid mismatch means the Service was deleted and recreated: the old load balancer is an orphan.
    """
    uids = live.get((owned.namespace, owned.name))
    if uids is None:
        return False
    return not owned.uid or "" in uids or owned.uid in uids


@click.command()
@_filename_option
@click.option("--all", "all_", is_flag=True, help="With no -f: delete EVERY load balancer the cluster owns.")
@click.option("--dry-run", is_flag=True, help="Only list the orphans; delete nothing.")
@provider_options
def gc(filenames: tuple[str, ...], all_: bool, dry_run: bool, common: Common) -> None:
    """Delete the load balancers whose Service is gone (orphans).

    The live Services are the LoadBalancer Services in the manifests given with -f; every load balancer the
    cluster owns that matches none of them (by namespace/name, and by uid when both have one) is deleted.
    The cluster must be named, with --cluster or in the config file.

    \b
    Examples:
      kubectl get svc -A -o yaml | cloudlb gc --cluster prod -f - --dry-run
      cloudlb gc --cluster ci-1234 --all
    """
    if filenames and all_:
        raise click.UsageError("--all deletes everything the cluster owns; it cannot be combined with -f")
    if not filenames and not all_:
        raise click.UsageError(
            "gc needs the live Services to know what is orphaned: pass their manifests with -f "
            "(-f - for stdin), or --all to delete every load balancer the cluster owns"
        )
    config = common.resolve()
    if not config.cluster_explicit:
        raise click.UsageError("gc needs --cluster NAME (or cluster in the config file): it deletes by cluster")
    live: dict[tuple[str, str], set[str]] = {}
    if filenames:
        specs = load_manifests(filenames, cluster=config.cluster)
        if not specs:
            raise click.UsageError(
                "the manifests hold no Service of type LoadBalancer, so every load balancer would be an orphan; "
                "use --all without -f if that is what you want"
            )
        for spec in specs:
            live.setdefault((spec.namespace, spec.name), set()).add(spec.uid)
    provider = _connect(config)
    orphans = [o for o in provider.list_owned(config.cluster) if o.cluster == config.cluster and not _is_live(o, live)]
    data: list[dict[str, Any]] = []
    for orphan in orphans:
        if dry_run:
            result = "would-delete"
        else:
            with output.progress(f"deleting orphan {orphan.cloud_name}"):
                result = "deleted" if provider.delete(orphan) else "absent"
        data.append({**owned_to_dict(orphan), "result": result})
    if common.output != "text":
        output.emit(data, common.output)
    elif not orphans:
        click.echo(f"cluster {config.cluster}: no orphaned load balancers")
    else:
        words = {"would-delete": "would delete", "deleted": "deleted", "absent": "already absent"}
        output.print_renderables([output.owned_table(orphans, actions=[words[d["result"]] for d in data])])


@click.command()
@_filename_option
@_cluster_option
@_output_option
@debug_option
def render(filenames: tuple[str, ...], cluster: str | None, output_format: OutputFormat) -> None:
    """Show the spec cloudlb reads from each LoadBalancer Service.

    The spec is provider-neutral, so no provider is needed. It shows the listeners, targets, health check,
    source ranges, affinity, scheme, algorithm and proxy protocol, then each annotation: applied by cloudlb
    itself, honoured by a named provider, or ignored.

    \b
    Examples:
      cloudlb render -f service.yaml -f nodes.yaml
      cloudlb render -f manifests/ -o json
    """
    _require_files(filenames)
    documents = load_documents(filenames)
    specs = specs_from_documents(documents, cluster=cluster or DEFAULT_CLUSTER)
    services = {_identity(d.body): d.body for d in documents if d.kind == "Service" and is_managed(d.body)}
    items = [(spec, explain(services[(spec.namespace, spec.name)])) for spec in specs]
    if not specs:
        log.warning("no Service of type LoadBalancer in %s", ", ".join(filenames))
    if output_format != "text":
        data = [
            {"service": _service(spec), "spec": spec_to_dict(spec), "annotations": [to_plain(u) for u in uses]}
            for spec, uses in items
        ]
        output.emit(data, output_format)
        return
    for number, (spec, uses) in enumerate(items):
        if number:
            click.echo()
        output.print_renderables(output.spec_renderables(spec, uses))


def _identity(service: Any) -> tuple[str, str]:
    # Only read for Services that already built into a spec, so metadata.name is known to be there.
    metadata = service.get("metadata") or {}
    return (metadata.get("namespace") or "default", str(metadata.get("name")))


COMMANDS: tuple[click.Command, ...] = (apply, plan, get, list_, sync, delete, gc, render)
