"""Commands that fake ``cloudlb.commands`` entry points point at (see test_plugins.py)."""

from __future__ import annotations

import click

NOT_A_COMMAND = "a plugin must be a click.Command, not a string"


@click.command()
@click.option("--name", default="world")
def hello(name: str) -> None:
    """Say hello (a well-formed plugin command)."""
    click.echo(f"hello {name}")
