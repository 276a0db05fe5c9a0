"""``cloudlb mock-server openstack``: the fake OpenStack cloud as a mock server for users' CI.

Where this sits: registered under the entry-point group ``cloudlb.mock_servers`` as ``openstack`` and built by
``cloudlb.testing.mockserver`` as ``OpenStackMockServer(port=..., seed=..., cluster=..., work_dir=..., **options)``.
``start()`` returns ``{"provider": "openstack", "cluster": ..., "options": {...}}`` where ``options`` are exactly
the OpenStack provider's keyword arguments. ``url_option`` names ``auth_url``, the one URL a fault proxy has to
front: the fake builds its catalog from the address each request came to, so the rest follows the proxy.

Seeding needs nothing per Node here: Octavia members are plain addresses, so the cloud starts with the network every
fake has (an external "public" network for floating IPs and the project's "private" subnet for VIPs and members).
``write_clouds_yaml`` writes a clouds.yaml pointing at the same cloud, for tools that read one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from cloudlb_openstack.fake import FakeOpenStack

__all__ = ["DEFAULT_CLOUD_NAME", "OpenStackMockServer"]

DEFAULT_CLOUD_NAME = "cloudlb-fake"

log = logging.getLogger(__name__)


def _quotas(value: Mapping[str, int] | str | None) -> dict[str, int] | None:
    if value is None or isinstance(value, Mapping):
        return dict(value) if value is not None else None
    quotas = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, sep, number = item.partition("=")
        if not sep or not number.lstrip("-").isdigit():
            raise ValueError(f"quotas: expected NAME=NUMBER[,NAME=NUMBER...], got {item!r}")
        quotas[name.strip()] = int(number)
    return quotas


class OpenStackMockServer:
    """The ``openstack`` mock server. Options (strings from ``-o KEY=VALUE`` are accepted): ``provisioning_delay``
    (seconds a PENDING_* state lasts), ``project``, ``user``, ``password``, and ``quotas``, a mapping or a string
    like ``load_balancer=2,member=50`` (Octavia's quota names, and Neutron's ``floatingip``). ``fake`` is the cloud
    itself, for callers that want its state or request log."""

    url_option = "auth_url"  # where a fault proxy can be put in front

    def __init__(
        self,
        *,
        port: int | None = None,
        seed: Sequence[str | Path] = (),
        cluster: str = "default",
        work_dir: Path | None = None,
        provisioning_delay: float | str = 0.05,
        project: str = "demo",
        user: str = "demo",
        password: str = "secret",
        quotas: Mapping[str, int] | str | None = None,
    ) -> None:
        self.cluster = cluster
        self.seed = tuple(Path(p) for p in seed)
        self.work_dir = work_dir
        self.fake = FakeOpenStack(
            port=port or 0,
            provisioning_delay=float(provisioning_delay),
            project=project,
            user=user,
            password=password,
            quotas=_quotas(quotas),
        )
        self._running = False

    def start(self) -> dict[str, Any]:
        self.fake.start()
        self._running = True
        log.info(
            "fake OpenStack on %s: project %s, floating network %s, subnet %s",
            self.fake.url,
            self.fake.project_name,
            self.fake.external_network_id,
            self.fake.subnet_id,
        )
        return {"provider": "openstack", "cluster": self.cluster, "options": self.options()}

    def stop(self) -> None:
        self.fake.stop()
        self._running = False

    def options(self, auth_url: str | None = None) -> dict[str, Any]:
        """The OpenStack provider's keyword arguments for this fake; ``auth_url`` overrides the URL (a proxy)."""
        if not self._running:
            raise RuntimeError("the mock server is not running; call start() first")
        return {
            **self.fake.connection_options(auth_url),
            "floating_network_id": self.fake.external_network_id,
            "subnet_id": self.fake.subnet_id,
        }

    def write_clouds_yaml(self, path: str | Path, *, cloud: str = DEFAULT_CLOUD_NAME) -> Path:
        """Write a clouds.yaml with one cloud named ``cloud`` pointing at the fake; returns the path."""
        options = self.options()
        auth_keys = ("auth_url", "username", "password", "project_name", "user_domain_name", "project_domain_name")
        entry = {
            "auth": {key: options[key] for key in auth_keys},
            "region_name": options["region_name"],
            "identity_api_version": 3,
            "interface": "public",
        }
        target = Path(path)
        target.write_text(yaml.safe_dump({"clouds": {cloud: entry}}, sort_keys=False), encoding="utf-8")
        return target
