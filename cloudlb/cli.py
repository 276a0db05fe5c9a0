"""The ``cloudlb`` command: the click group, plugin subcommands, and one place that turns errors into exit codes.

Where this sits: the operator's and CI's way into the pipeline. The built-in commands (apply, plan, get, list,
delete, sync, gc, render) live in ``cloudlb.cli_commands``; extra ones (serve, demo, mock-server, controller) arrive
through the ``cloudlb.commands`` entry points and are loaded only when looked up, so a broken plugin breaks only its
own command. Every ``CloudLBError`` becomes one ``error: ...`` line on stderr and the exit code of its class (0 ok,
1 cloud failure, 2 bad input or usage); ``--debug`` adds the traceback.
"""

from __future__ import annotations

import importlib.metadata
import logging
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from cloudlb.cli_commands import COMMANDS, DEBUG_KEY, debug_option
from cloudlb.errors import CloudLBError

__all__ = ["COMMANDS_GROUP", "PluginError", "cli", "main"]

COMMANDS_GROUP = "cloudlb.commands"


class PluginError(CloudLBError):
    """A ``cloudlb.commands`` plugin could not be loaded."""


# --- the group: lazy plugins and one place for errors ----------------------------------------------------------


def _command_entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for entry_point in importlib.metadata.entry_points(group=COMMANDS_GROUP):
        found.setdefault(entry_point.name, entry_point)
    return found


def _broken_command(name: str, message: str) -> click.Command:
    """Stands in for a plugin that failed to load, so only running that command fails, with the reason."""

    def fail() -> None:
        raise PluginError(message)

    return click.Command(
        name,
        callback=fail,
        help=f"(unavailable) {message}",
        short_help="(unavailable: broken plugin)",
        add_help_option=False,  # `cloudlb NAME --help` should say why NAME is broken too
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


class _StderrHandler(logging.Handler):
    """``level: message`` lines on stderr: cloudlb's own records (providers' packages too) at any level, other
    libraries' only from WARNING up, so --debug is not buried under an SDK's wire log."""

    def filter(self, record: logging.LogRecord) -> bool:
        ours = record.name == "cloudlb" or record.name.startswith(("cloudlb.", "cloudlb_"))
        return ours or record.levelno >= logging.WARNING

    def emit(self, record: logging.LogRecord) -> None:
        prefix = f"{record.levelname.lower()}: "
        if record.levelno < logging.INFO:
            prefix += f"{record.name}: "
        click.echo(prefix + record.getMessage(), err=True)


class CloudLBGroup(click.Group):
    """Built-in commands first, then ``cloudlb.commands`` entry points, each loaded only when it is looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_command_entry_points()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        builtin = super().get_command(ctx, cmd_name)
        if builtin is not None:
            return builtin
        entry_point = _command_entry_points().get(cmd_name)
        if entry_point is None:
            return None
        where = f"plugin command {cmd_name!r} (entry point {entry_point.value!r})"
        try:
            loaded = entry_point.load()
        except Exception as exc:  # a plugin's import-time bug must not take the other commands down
            return _broken_command(cmd_name, f"{where} failed to load: {type(exc).__name__}: {_one_line(exc)}")
        if not isinstance(loaded, click.Command):
            return _broken_command(cmd_name, f"{where} is not a click command but {type(loaded).__name__}")
        return loaded

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # One handler per run, removed afterwards: CliRunner runs many invocations in one process.
        # On the root logger: provider packages (cloudlb_aws, ...) log under their own top-level names.
        handler, root = _StderrHandler(), logging.getLogger()
        saved_level = root.level
        root.addHandler(handler)
        root.setLevel(logging.WARNING)  # --debug lowers it while its options are parsed
        try:
            return super().main(*args, **kwargs)
        finally:
            root.removeHandler(handler)
            root.setLevel(saved_level)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except CloudLBError as exc:
            _report(ctx, f"error: {_one_line(exc)}")
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:
            hint = "" if ctx.meta.get(DEBUG_KEY) else " (rerun with --debug for the traceback)"
            _report(ctx, f"error: internal error: {type(exc).__name__}: {_one_line(exc)}{hint}")
            ctx.exit(1)


def _report(ctx: click.Context, line: str) -> None:
    if ctx.meta.get(DEBUG_KEY):
        click.echo(traceback.format_exc().rstrip(), err=True)
    click.echo(line, err=True)


def _one_line(exc: BaseException) -> str:
    return "; ".join(part.strip() for part in str(exc).splitlines() if part.strip()) or type(exc).__name__


# --- the command ---------------------------------------------------------------------------------------------


@click.group("cloudlb", cls=CloudLBGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cloudlb", prog_name="cloudlb")
@debug_option
def cli() -> None:
    """Give Kubernetes Services of type LoadBalancer a real load balancer, on any cloud or on this machine.

    \b
    Examples:
      cloudlb render -f service.yaml                  # what cloudlb reads from a manifest
      cloudlb plan -f service.yaml                    # what apply would change (no changes made)
      cloudlb apply -f service.yaml -f nodes.yaml     # create or converge the load balancer
      kubectl get svc,nodes,endpointslices -A -o yaml | cloudlb apply -f -
      cloudlb get -f service.yaml -o json             # status, like status.loadBalancer
      cloudlb list --cluster prod                     # every load balancer cluster prod owns
      cloudlb delete default/web                      # by identity: the Service may be gone
      cloudlb gc --cluster prod -f live/ --dry-run    # orphans of Services no longer in live/
      cloudlb apply --provider aws --config aws.yaml -f service.yaml

    \b
    Configuration: --config FILE or $CLOUDLB_CONFIG, YAML with the keys provider, cluster and options
    (the provider's keyword arguments); flags win over the file, the file over the defaults (provider
    local, cluster default). The output of `cloudlb mock-server NAME` saved to a file is a valid config.

    Exit codes: 0 ok, 1 failure from the cloud, 2 bad input or usage, 130 interrupted.
    """


for _command in COMMANDS:
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    """The console-script entry point: run ``cli`` in standalone mode (it exits the process)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="cloudlb")
    except KeyboardInterrupt:  # outside a command (while parsing); inside, the group reports it
        click.echo("error: interrupted", err=True)
        sys.exit(130)
