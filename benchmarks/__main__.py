"""Run benchmarks by name: ``python -m benchmarks [NAME ...]`` (default: all). See benchmarks/README.md."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("core", "dataplane", "aws_calls", "azure_calls", "openstack_calls", "controller")


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    for name in names:
        importlib.import_module(f"benchmarks.{name}").run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
