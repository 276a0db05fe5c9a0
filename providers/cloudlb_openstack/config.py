"""``OpenStackConfig``: the keyword arguments of ``get_provider("openstack", ...)``, typed and checked once.

Where this sits: ``OpenStackProvider.__init__`` builds one from its arguments (the ``options`` of a config file) and
hands it to the client (credentials, timeouts) and to ``ServiceOptions.parse`` (the defaults an annotation may
override). Credentials come either from the explicit ``auth_url``/``username``/... or from a clouds.yaml entry named
by ``cloud``; explicit values override the entry's. Polling and retry settings are plain numbers so that a YAML config
file can set them; they become the ``Backoff`` values of ``cloudlb.retry``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from typing import Any

from cloudlb.errors import ConfigError
from cloudlb.retry import Backoff

__all__ = ["OpenStackConfig", "check_uuid"]


def check_uuid(value: str) -> bool:
    """Whether ``value`` is a UUID, the form Neutron and Octavia ids take."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class OpenStackConfig:
    """Credentials, the network defaults and the timing knobs.

    ``subnet_id`` is the VIP subnet (and the members' subnet unless ``member_subnet_id`` is set);
    ``floating_network_id`` the external network floating IPs come from (found when there is exactly one).
    ``poll_interval``/``max_poll_interval``/``wait_timeout`` shape the wait for ACTIVE after each write;
    ``read_retries`` how often a failed read is retried on the spot; ``rounds`` how many times an ``ensure`` observes
    and plans again after a temporary failure (a 409, a 5xx, a lost connection), ``round_delay`` the first wait
    between rounds.
    """

    auth_url: str | None = None
    username: str | None = None
    password: str | None = None
    project_name: str | None = None
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"
    region_name: str | None = None
    floating_network_id: str | None = None
    subnet_id: str | None = None
    cloud: str | None = None
    member_subnet_id: str | None = None
    poll_interval: float = 0.5
    max_poll_interval: float = 10.0
    wait_timeout: float = 600.0
    read_retries: int = 5
    rounds: int = 8
    round_delay: float = 1.0
    request_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.cloud is None:
            missing = [n for n in ("auth_url", "username", "password", "project_name") if not getattr(self, n)]
            if missing:
                raise ConfigError(
                    f"provider 'openstack' needs option {', '.join(repr(m) for m in missing)}, or 'cloud' naming a "
                    "clouds.yaml entry"
                )
        for name in ("floating_network_id", "subnet_id", "member_subnet_id"):
            value = getattr(self, name)
            if value is not None and not check_uuid(value):
                raise ConfigError(f"openstack option {name!r} must be a UUID, got {value!r}")
        for name in ("poll_interval", "max_poll_interval", "wait_timeout", "round_delay", "request_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"openstack option {name!r} must be positive, got {getattr(self, name)}")
        for name in ("read_retries", "rounds"):
            if getattr(self, name) < 0:
                raise ConfigError(f"openstack option {name!r} must not be negative, got {getattr(self, name)}")

    @classmethod
    def build(cls, **options: Any) -> OpenStackConfig:
        """Coerce numbers given as strings (``-o poll_interval=0.5``); None keeps a default."""
        defaults = {f.name: f.default for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, value in options.items():
            if value is None:
                continue
            default = defaults[name]
            try:
                if isinstance(default, int):
                    values[name] = int(value)
                elif isinstance(default, float):
                    values[name] = float(value)
                else:
                    values[name] = str(value)
            except (TypeError, ValueError):
                raise ConfigError(f"openstack option {name!r}: {value!r} is not a number") from None
        return cls(**values)

    @property
    def wait_backoff(self) -> Backoff:
        """Polls after a write: slow enough for a real Octavia, bounded by ``wait_timeout``."""
        return Backoff(
            initial=self.poll_interval, factor=1.5, max_delay=self.max_poll_interval, jitter=0.2, max_attempts=None
        )

    @property
    def read_backoff(self) -> Backoff:
        """Retries of one read; reads have no effect, so repeating them is always safe."""
        return Backoff(
            initial=min(self.round_delay, 0.2), factor=2.0, max_delay=5.0, max_attempts=self.read_retries + 1
        )

    @property
    def round_backoff(self) -> Backoff:
        """Whole observe-plan-apply rounds after a temporary failure: a write is never repeated blind."""
        return Backoff(initial=self.round_delay, factor=2.0, max_delay=30.0, max_attempts=self.rounds + 1)

    def connection_options(self) -> dict[str, Any]:
        """The explicit credentials, as ``openstack.connect`` takes them (unset ones left to clouds.yaml)."""
        out: dict[str, Any] = {}
        for name in ("auth_url", "username", "password", "project_name", "region_name"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.cloud is None or self.auth_url is not None:
            out["user_domain_name"] = self.user_domain_name
            out["project_domain_name"] = self.project_domain_name
        return out
