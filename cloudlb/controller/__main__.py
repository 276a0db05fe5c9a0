"""``python -m cloudlb.controller ARGS``: ``cloudlb controller ARGS``, whether or not the entry point is installed."""

from __future__ import annotations

import sys

import click

from cloudlb.cli import cli, main
from cloudlb.controller.command import controller

if __name__ == "__main__":
    if cli.get_command(click.Context(cli), "controller") is None:  # no entry point installed
        cli.add_command(controller)
    main(["controller", *sys.argv[1:]])
