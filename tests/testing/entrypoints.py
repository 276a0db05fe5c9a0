"""Entry points for child processes, without installing anything: a throwaway ``*.dist-info`` on PYTHONPATH.

``importlib.metadata`` finds a distribution in any ``sys.path`` entry, so a child started with the returned
environment sees the declared entry points (next to, and ahead of, the installed ones).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# What a child needs to run `cloudlb mock-server ...` whatever pyproject.toml declares at the moment.
MOCK_SERVER_COMMAND = {"cloudlb.commands": {"mock-server": "cloudlb.testing.mockserver:mock_server"}}


def environment_with(directory: Path, groups: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Declare ``groups`` (group -> name -> ``module:attr``) in a distribution under ``directory``; return an
    environment whose PYTHONPATH finds it and this repository's ``tests`` package."""
    dist_info = directory / "cloudlb_test_entry_points-0.0.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: cloudlb-test-entry-points\nVersion: 0.0\n")
    sections = []
    for group, entries in groups.items():
        sections.append(f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in entries.items()))
    (dist_info / "entry_points.txt").write_text("\n".join(sections))
    path = [str(directory), str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
