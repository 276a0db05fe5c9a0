"""``LocalProvider``: the ``local`` provider, client of the daemon that ``cloudlb serve`` runs.

Where this sits: the same plan/apply discipline as the cloud providers. ``_observe`` finds this Service's load
balancers by the ownership tags (``naming.py``), never by name; ``_work`` diffs the desired body (``mapping.py``)
against the observed one per field group and yields a list of steps, each carrying the ``Change`` it shows in the
plan and the API call(s) that make it (``cloudlb.apply``). ``plan`` returns the changes; ``ensure`` runs the calls,
in dependency order: stale copies go first, then creates, renames and target deltas, and listener deletes last. No
drift, no call: a converged Service costs exactly one GET.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cloudlb.apply import Classified, Step, Work, classify, run_steps
from cloudlb.capabilities import check_supported
from cloudlb.errors import NotFoundError, UnsupportedFeatureError
from cloudlb.model import (
    Feature,
    HealthCheckProtocol,
    LoadBalancerSpec,
    LoadBalancerStatus,
    OwnedLoadBalancer,
    ServiceRef,
)
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG, UID_TAG, NameRules, Ownership, owner_of, ownership, resource_name
from cloudlb.plan import Action, Change, Plan, batched, field_drift, map_diff, set_diff
from cloudlb.retry import Backoff, retry_call
from cloudlb_local.client import JSON, LocalClient
from cloudlb_local.mapping import (
    Endpoint,
    actual_endpoints,
    desired_endpoints,
    desired_listeners,
    desired_settings,
    desired_tags,
    flat_settings,
    lb_body,
    listener_body,
    status_of,
)

__all__ = ["CAPABILITIES", "LOCAL_NAME_RULES", "TARGETS_PER_CALL", "LocalProvider"]

log = logging.getLogger("cloudlb.local")

CAPABILITIES = frozenset(
    {
        Feature.TCP,
        Feature.UDP,
        Feature.MIXED_PROTOCOLS,
        Feature.SOURCE_RANGES,
        Feature.SESSION_AFFINITY,
        Feature.NODE_TARGETS,
        Feature.POD_TARGETS,
        Feature.INTERNAL,  # the same loopback pool serves both schemes: everything here is internal to the host
        Feature.LOAD_BALANCER_IP,
        Feature.PROXY_PROTOCOL,
        Feature.HTTP_HEALTH_CHECK,
        Feature.ALGORITHM_ROUND_ROBIN,
        Feature.ALGORITHM_RANDOM,
        Feature.ALGORITHM_LEAST_CONNECTIONS,
        Feature.ALGORITHM_SOURCE_IP,
    }
)
# The API takes 255 characters; 63 keeps names readable and valid as DNS labels.
LOCAL_NAME_RULES = NameRules(max_length=63)
TARGETS_PER_CALL = 1000  # API.md: at most 1,000 targets, adds and removes together, per targets call
# A failed write is retried by observing and planning again, so a half-applied ensure converges and never duplicates.
WRITE_BACKOFF = Backoff(initial=0.2, factor=2.0, max_delay=5.0, max_attempts=4, deadline=30.0)

LB = "load-balancer"


_Step = Step[LocalClient, JSON]
_Work = Work[LocalClient, JSON]


class LocalProvider:
    """Load balancers on this host, served by ``cloudlb serve --state-dir DIR``.

    Building one makes no call and reads no file: ``DIR/api.json`` is read on first use, so a provider can be made
    before its daemon starts.
    """

    name = "local"

    def __init__(
        self,
        state_dir: str | Path | None = None,
        *,
        api_url: str | None = None,
        token: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.client = LocalClient(state_dir, api_url=api_url, token=token, timeout=timeout)

    @property
    def capabilities(self) -> frozenset[Feature]:
        return CAPABILITIES

    def load_balancer_name(self, spec: LoadBalancerSpec) -> str:
        return resource_name(spec.ref, LOCAL_NAME_RULES)

    # --- the Provider protocol ---------------------------------------------------------------------------------

    def plan(self, spec: LoadBalancerSpec) -> Plan:
        self._check(spec)
        return self._work(spec).plan

    def ensure(self, spec: LoadBalancerSpec) -> LoadBalancerStatus:
        self._check(spec)
        return retry_call(self._ensure_once, spec, backoff=WRITE_BACKOFF)

    def update_targets(self, spec: LoadBalancerSpec) -> None:
        self._check(spec)
        retry_call(self._update_targets_once, spec, backoff=WRITE_BACKOFF)

    def get(self, spec: LoadBalancerSpec) -> LoadBalancerStatus | None:
        kept = self._observe(spec.ref).kept
        return status_of(kept) if kept is not None else None

    def delete(self, spec: LoadBalancerSpec | OwnedLoadBalancer) -> bool:
        if isinstance(spec, OwnedLoadBalancer):
            return retry_call(self._delete_owned_once, spec, backoff=WRITE_BACKOFF)
        return retry_call(self._delete_once, spec.ref, backoff=WRITE_BACKOFF)

    def list_owned(self, cluster: str) -> list[OwnedLoadBalancer]:
        out = []
        for lb in self.client.list_load_balancers({CLUSTER_TAG: cluster}):
            owner = owner_of(lb.get("tags") or {})
            if owner is None or owner.cluster != cluster:
                continue
            out.append(OwnedLoadBalancer(owner.cluster, owner.namespace, owner.name, owner.uid, lb["name"], lb["id"]))
        return sorted(out, key=lambda o: (o.namespace, o.name, o.cloud_id))

    # --- apply -------------------------------------------------------------------------------------------------

    def _check(self, spec: LoadBalancerSpec) -> None:
        check_supported(self.name, self.capabilities, spec)
        if spec.listeners and spec.health_check.protocol is HealthCheckProtocol.HTTPS:
            raise UnsupportedFeatureError(self.name, ["https-health-check"], detail=f"service {spec.ref}")

    def _ensure_once(self, spec: LoadBalancerSpec) -> LoadBalancerStatus:
        work = self._work(spec)
        current = self._run(work, work.steps)
        assert current is not None, "a plan for a spec always ends with a load balancer"
        return status_of(current)

    def _update_targets_once(self, spec: LoadBalancerSpec) -> None:
        work = self._work(spec)
        if work.current is None:
            raise NotFoundError(f"no load balancer for service {spec.ref} yet: ensure it first")
        self._run(work, work.target_steps)

    def _run(self, work: _Work, steps: Sequence[_Step]) -> JSON | None:
        return run_steps(work, self.client, log=log, steps=steps, ident=lambda lb: str(lb["id"]))

    def _delete_once(self, ref: ServiceRef) -> bool:
        return any([self._delete_lb(lb) for lb in self._observe(ref).mine])

    def _delete_owned_once(self, owned: OwnedLoadBalancer) -> bool:
        try:
            lb = self.client.get_load_balancer(owned.cloud_id)
        except NotFoundError:
            return False
        # The id alone proves nothing: the tags must still say this Service owns it.
        if ownership(lb.get("tags") or {}, owned.ref) is not Ownership.MINE:
            log.warning("not deleting %s: its tags do not name %s", owned.cloud_id, owned.ref)
            return False
        return self._delete_lb(lb)

    def _delete_lb(self, lb: Mapping[str, Any]) -> bool:
        log.info("deleting load-balancer %s (%s)", lb["name"], lb["id"])
        try:
            self.client.delete_load_balancer(lb["id"])
        except NotFoundError:
            return False  # someone else deleted it between our read and our write
        log.info("deleted load-balancer %s (%s)", lb["name"], lb["id"])
        return True

    # --- observe and plan --------------------------------------------------------------------------------------

    def _observe(self, ref: ServiceRef) -> Classified[JSON]:
        """This Service's load balancers, found by tags; mine best first (an exact uid match, then by id), so that
        every run keeps the same one and any after it are duplicates to delete."""
        found = self.client.list_load_balancers({CLUSTER_TAG: ref.cluster, SERVICE_TAG: ref.service})
        return classify(found, ref, tags=lambda lb: lb.get("tags") or {}, key=lambda lb: lb["id"])

    def _work(self, spec: LoadBalancerSpec) -> _Work:
        name = self.load_balancer_name(spec)
        observed = self._observe(spec.ref)
        steps = [_delete_step(lb, "left by an earlier Service with another uid") for lb in observed.stale]
        steps += [_delete_step(lb, "a duplicate of the kept load balancer") for lb in observed.duplicates]
        current = observed.kept
        if current is None:
            steps.append(_create_step(spec, name, reason="no load balancer is tagged for this Service"))
            return _Work(name, None, tuple(steps))
        if spec.load_balancer_ip and current["address"] != spec.load_balancer_ip:
            # The address of a load balancer is fixed for its life: a new one takes the asked-for address.
            change = Change(Action.REPLACE, LB, name, fields={"address": (current["address"], spec.load_balancer_ip)})
            steps.append(_Step((change,), lambda c: c.create_load_balancer(lb_body(spec, name))))
            steps.append(_delete_step(current, "replaced", show=False))
            return _Work(name, current, tuple(steps))
        steps += _settings_steps(spec, current)
        steps += _listener_steps(spec, current)
        return _Work(name, current, tuple(steps))


def _create_step(spec: LoadBalancerSpec, name: str, *, reason: str) -> _Step:
    body = lb_body(spec, name)
    fields: dict[str, Any] = {"address": spec.load_balancer_ip or "(next free in pool)"}
    fields.update(flat_settings(body["settings"]))
    shown = {k: (None, v) for k, v in fields.items() if v is not None}
    changes = [Change(Action.CREATE, LB, name, fields=shown, reason=reason)]
    for lst in spec.listeners:
        added = tuple(sorted(str(e) for e in desired_endpoints(lst)))
        changes.append(Change(Action.CREATE, "listener", _label(lst.name, lst.protocol, lst.port), added=added))
    return _Step(tuple(changes), lambda client: client.create_load_balancer(body))


def _delete_step(lb: Mapping[str, Any], reason: str, *, show: bool = True) -> _Step:
    lb_id = str(lb["id"])

    def run(client: LocalClient) -> None:
        with contextlib.suppress(NotFoundError):  # already gone: that is what this step wanted
            client.delete_load_balancer(lb_id)

    changes = (Change(Action.DELETE, LB, f"{lb['name']} ({lb_id})", reason=reason),) if show else ()
    return _Step(changes, run)


def _settings_steps(spec: LoadBalancerSpec, lb: Mapping[str, Any]) -> list[_Step]:
    """Settings and tags drift share one PATCH."""
    settings = desired_settings(spec)
    settings_drift = field_drift(flat_settings(settings), flat_settings(lb.get("settings")))
    actual_tags: Mapping[str, str] = lb.get("tags") or {}
    wanted_tags = desired_tags(spec)
    if not spec.uid:
        # A spec from a file has no uid; the one a controller recorded stays, it still names the Service.
        wanted_tags[UID_TAG] = actual_tags.get(UID_TAG, "")
    tags_diff = map_diff(wanted_tags, actual_tags)
    changes = []
    if settings_drift:
        changes.append(Change(Action.UPDATE, "settings", str(lb["name"]), fields=settings_drift))
    if tags_diff:
        fields = {item.key: (item.old, item.new) for item in tags_diff.items()}
        changes.append(Change(Action.UPDATE, "tags", str(lb["name"]), fields=fields))
    if not changes:
        return []
    lb_id = str(lb["id"])
    patch_settings = settings if settings_drift else None
    patch_tags = tags_diff.apply(actual_tags) if tags_diff else None
    return [_Step(tuple(changes), lambda c: c.patch_load_balancer(lb_id, settings=patch_settings, tags=patch_tags))]


def _listener_steps(spec: LoadBalancerSpec, lb: Mapping[str, Any]) -> list[_Step]:
    """Creates, renames and target deltas first; deletes last, so a port change never leaves nothing listening."""
    lb_id = str(lb["id"])
    desired = desired_listeners(spec)
    actual = {f"{lst['protocol']}-{lst['port']}": lst for lst in lb.get("listeners") or ()}
    steps: list[_Step] = []
    for key, lst in desired.items():
        label = _label(lst.name, lst.protocol, lst.port)
        have = actual.get(key)
        if have is None:
            body = listener_body(lst)
            added = tuple(sorted(str(e) for e in desired_endpoints(lst)))
            change = Change(Action.CREATE, "listener", label, added=added)
            steps.append(_Step((change,), functools.partial(LocalClient.create_listener, lb_id=lb_id, listener=body)))
            continue
        if have.get("name") != lst.name:
            change = Change(Action.UPDATE, "listener", label, fields={"name": (have.get("name"), lst.name)})
            steps.append(
                _Step((change,), functools.partial(LocalClient.rename_listener, lb_id=lb_id, key=key, name=lst.name))
            )
        diff = set_diff(desired_endpoints(lst), actual_endpoints(have))
        if diff:
            change = Change(
                Action.UPDATE,
                "targets",
                label,
                added=tuple(sorted(str(e) for e in diff.add)),
                removed=tuple(sorted(str(e) for e in diff.remove)),
            )
            steps.append(_Step((change,), _targets_run(lb_id, key, diff.add, diff.remove), targets_only=True))
    for key, have in actual.items():
        if key not in desired:
            label = _label(str(have.get("name", "")), have["protocol"], have["port"])
            change = Change(Action.DELETE, "listener", label)
            steps.append(_Step((change,), functools.partial(LocalClient.delete_listener, lb_id=lb_id, key=key)))
    return steps


def _targets_run(
    lb_id: str, key: str, add: frozenset[Endpoint], remove: frozenset[Endpoint]
) -> Callable[[LocalClient], JSON | None]:
    # Adds go first in the sequence, so a replacement registers new targets before it deregisters the old ones;
    # batches mix both, which the API applies adds-first within a call too.
    delta = [("add", e) for e in sorted(add)] + [("remove", e) for e in sorted(remove)]

    def run(client: LocalClient) -> JSON | None:
        answer = None
        for batch in batched(delta, TARGETS_PER_CALL):
            answer = client.change_targets(
                lb_id,
                key,
                add=[e.to_json() for op, e in batch if op == "add"],
                remove=[e.to_json() for op, e in batch if op == "remove"],
            )
        return answer

    return run


def _label(name: str, protocol: object, port: object) -> str:
    key = f"{protocol}-{port}"
    return f"{name} ({key})" if name else key
