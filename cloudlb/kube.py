"""Kubernetes manifests -> LoadBalancerSpec. (Being written.)"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cloudlb.model import LoadBalancerSpec


def spec_from_manifests(
    service: Mapping[str, Any],
    endpoint_slices: Iterable[Mapping[str, Any]] = (),
    nodes: Iterable[Mapping[str, Any]] = (),
    *,
    cluster: str = "default",
) -> LoadBalancerSpec:
    raise NotImplementedError


def load_manifests(paths: Iterable[str | Path], *, cluster: str = "default") -> list[LoadBalancerSpec]:
    raise NotImplementedError
