"""``cloudlb serve``: the command that runs the local cloud daemon.

Where this sits: ``cloudlb.cli`` finds this command through the ``cloudlb.commands`` entry point ``serve``; the
daemon itself is ``daemon.py``. Errors are raised as ``CloudLBError`` for the ``cloudlb`` group to report as one
line with its exit code; ``main()`` does the same reporting when the command runs on its own
(``python -m cloudlb_local.daemon``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cloudlb.errors import CloudLBError
from cloudlb_local.daemon import DEFAULT_ADDRESS_POOL
from cloudlb_local.daemon import serve as run_daemon

__all__ = ["main", "serve"]

STATE_DIR_ENV = "CLOUDLB_STATE_DIR"
DEFAULT_STATE_DIR = Path("~/.local/state/cloudlb")
DEBUG_KEY = "cloudlb.debug"  # cloudlb.cli_commands.DEBUG_KEY: the group's --debug, shared through ctx.meta


@click.command("serve")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=STATE_DIR_ENV,
    default=DEFAULT_STATE_DIR,
    show_default=True,
    show_envvar=True,
    help="Where the load balancers (state.db), the API token and api.json live. Created with mode 0700.",
)
@click.option(
    "--address-pool",
    default=DEFAULT_ADDRESS_POOL,
    show_default=True,
    metavar="CIDR",
    help="Addresses handed to load balancers, lowest free first; network and broadcast addresses are skipped.",
)
@click.option(
    "--api-address",
    metavar="HOST:PORT",
    help="Where the API listens. Loopback only. [default: 127.0.0.1 on a free port, announced in api.json]",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object per line with ts, level, logger, msg and context fields such as lb and listener.",
)
@click.option(
    "--uvloop/--no-uvloop",
    "use_uvloop",
    default=True,
    show_default=True,
    help="Run the data plane on uvloop when it is installed; --no-uvloop uses the standard asyncio loop.",
)
@click.option("--debug", is_flag=True, help="Log at DEBUG level and print the traceback of any error.")
@click.pass_context
def serve(
    ctx: click.Context,
    state_dir: Path,
    address_pool: str,
    api_address: str | None,
    log_format: str,
    use_uvloop: bool,
    debug: bool,
) -> None:
    """Run the local cloud: load balancers on this machine, served from an address pool on loopback.

    The daemon keeps its load balancers in STATE_DIR/state.db and brings every one of them back on restart. Clients
    (`get_provider("local", state_dir=...)`, `cloudlb apply`) find its API and token in STATE_DIR/api.json.
    SIGTERM or Ctrl-C stops it after established connections drain.
    """
    debug = debug or bool(ctx.meta.get(DEBUG_KEY))
    if debug:
        ctx.meta[DEBUG_KEY] = True
    code = run_daemon(
        state_dir=state_dir,
        address_pool=address_pool,
        api_address=api_address,
        log_format=log_format,
        debug=debug,
        use_uvloop=use_uvloop,
    )
    ctx.exit(code)


def main() -> None:
    """Run ``serve`` as a program of its own, reporting errors the way the ``cloudlb`` group does."""
    try:
        # Without standalone mode, click returns the code of ctx.exit() instead of exiting itself.
        code = serve.main(prog_name="cloudlb serve", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except CloudLBError as exc:
        if "--debug" in sys.argv:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
