"""``AzureProvider``: the ``azure`` provider. A Standard Load Balancer per cluster and scheme, shared by its Services.

Where this sits: the Provider protocol (cloudlb/provider.py) over ARM (arm.py). Like cloud-provider-azure, each
cluster has one balancer per scheme, ``<cluster>`` and ``<cluster>-internal``; each Service owns a frontend IP
configuration on it, with its rules and probes, plus a public IP when external, and rules in the cluster's network
security group (names.py says how its parts are told from others'). Node targets share the cluster's one IP-based
pool; pod targets get a pool per Service.

A round observes (observe.py), plans with pure functions (desired.py, lb.py, pips.py, nsg.py) and runs the steps
with ``cloudlb.apply``, in this order: the public IP (create, or converge its tags and label); the balancer, in one
read-modify-write under ``If-Match`` (lb_write.py); the Service's parts on the other scheme's balancer, if it moved;
addresses no frontend uses any more; the security rules. Nothing is called where nothing drifted. A round refused
before any write (a foreign resource holds a name cloudlb needs, a named address is missing) raises before its
first step; a round that ends in a temporary error (throttled past the per-call retries, a lost answer) is retried
from a fresh observation, so whatever a lost call made is found, not made twice.

What the capabilities mean here: ``ALGORITHM_ROUND_ROBIN`` is Azure's default five-tuple hash (no Azure setting
picks targets in turn); ``ALGORITHM_SOURCE_IP`` and ``SESSION_AFFINITY`` are ``loadDistribution: SourceIP`` (which
has no timeout); ``LOAD_BALANCER_IP`` is a static private address when internal, an existing public IP with that
address when external; ``SOURCE_RANGES`` needs ``security_group_name``. User tags (``cloudlb.io/tags``) go on the
public IP, the one resource an external Service owns alone; an internal Service owns none, so they go nowhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from cloudlb.apply import run_steps
from cloudlb.capabilities import check_supported
from cloudlb.errors import ConflictError, NotFoundError, ProviderError, TemporaryError
from cloudlb.model import (
    Feature,
    Ingress,
    LoadBalancerSpec,
    LoadBalancerStatus,
    OwnedLoadBalancer,
    Scheme,
    ServiceRef,
)
from cloudlb.naming import Ownership
from cloudlb.plan import Action, Change, Plan
from cloudlb.retry import retry_call
from cloudlb_azure.arm import Arm, Kind
from cloudlb_azure.context import AzureStep, AzureWork, Context, Resolved
from cloudlb_azure.desired import Scope, check_targets, desired_slice, lb_skeleton
from cloudlb_azure.lb import AzureLimits, LbWrite, converge, frontend_address, records, slice_ownership
from cloudlb_azure.lb_write import frontend_of, lb_step
from cloudlb_azure.names import cluster_tag_key, lb_name, service_base, with_uid
from cloudlb_azure.nsg import desired_rules, nsg_converge, nsg_step
from cloudlb_azure.observe import Observed, Observer
from cloudlb_azure.options import AzureOptions, ServiceOptions
from cloudlb_azure.owned import list_owned
from cloudlb_azure.pips import PipPlan, owned_by, plan_public_ip, removal_steps, service_pips
from cloudlb_azure.validate import check_spec

__all__ = ["CAPABILITIES", "AzureProvider"]

log = logging.getLogger("cloudlb.azure")
T = TypeVar("T")

CAPABILITIES = frozenset(
    {
        Feature.TCP,
        Feature.UDP,
        Feature.MIXED_PROTOCOLS,
        Feature.SESSION_AFFINITY,
        Feature.NODE_TARGETS,
        Feature.POD_TARGETS,
        Feature.INTERNAL,
        Feature.LOAD_BALANCER_IP,
        Feature.HTTP_HEALTH_CHECK,
        Feature.ALGORITHM_ROUND_ROBIN,
        Feature.ALGORITHM_SOURCE_IP,
    }
)
_MINE = frozenset({Ownership.MINE})
_OTHER = {Scheme.EXTERNAL: Scheme.INTERNAL, Scheme.INTERNAL: Scheme.EXTERNAL}


class AzureProvider:
    """Load balancers on Azure. Building one makes no call. ``tuning`` takes the other ``AzureOptions`` fields
    (rate limits, retries, polling); ``limits``, ``credential`` and ``sleep`` are for library use and tests."""

    name = "azure"

    def __init__(
        self,
        subscription_id: str,
        resource_group: str,
        location: str,
        base_url: str | None = None,
        ca_bundle: str | None = None,
        use_mock_credential: bool = False,
        vnet_name: str | None = None,
        subnet_name: str | None = None,
        security_group_name: str | None = None,
        *,
        limits: AzureLimits | None = None,
        credential: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        **tuning: Any,
    ) -> None:
        self.options = AzureOptions.build(
            subscription_id=subscription_id,
            resource_group=resource_group,
            location=location,
            base_url=base_url,
            ca_bundle=ca_bundle,
            use_mock_credential=use_mock_credential,
            vnet_name=vnet_name,
            subnet_name=subnet_name,
            security_group_name=security_group_name,
            **tuning,
        )
        self.limits = limits or AzureLimits()
        self.sleep = sleep
        self.scope = Scope(self.options)
        self.arm = Arm(self.options, credential=credential, sleep=sleep)
        self.observer = Observer(self.arm, self.scope)
        managed = self.options.security_group_name is not None
        self._capabilities = CAPABILITIES | ({Feature.SOURCE_RANGES} if managed else set())

    @property
    def capabilities(self) -> frozenset[Feature]:
        """What this provider honours (module docstring); SOURCE_RANGES only with a security group configured."""
        return self._capabilities

    def load_balancer_name(self, spec: LoadBalancerSpec) -> str:
        """The Service's frontend on its cluster's balancer: the name every part of it starts with."""
        return service_base(spec.ref)

    # --- the Provider protocol -----------------------------------------------------------------------------------

    def plan(self, spec: LoadBalancerSpec) -> Plan:
        service = self._check(spec)
        work, _, _ = self._round(spec, service)
        return work.plan

    def ensure(self, spec: LoadBalancerSpec) -> LoadBalancerStatus:
        service = self._check(spec)
        return self._retry(self._ensure_once, spec, service)

    def update_targets(self, spec: LoadBalancerSpec) -> None:
        service = self._check(spec)
        self._retry(self._update_targets_once, spec, service)

    def get(self, spec: LoadBalancerSpec) -> LoadBalancerStatus | None:
        observed = self.observer.balancers(spec.cluster)
        base = service_base(spec.ref)
        for lb in observed.lbs.values():
            if slice_ownership(lb, base, spec.ref) is Ownership.MINE:
                return self._status(lb, base, self._address(lb, base))
        return None

    def delete(self, spec: LoadBalancerSpec | OwnedLoadBalancer) -> bool:
        return self._retry(self._delete_once, spec.ref)

    def list_owned(self, cluster: str) -> list[OwnedLoadBalancer]:
        return list_owned(self.observer, cluster)

    # --- rounds --------------------------------------------------------------------------------------------------

    def _retry(self, fn: Callable[..., T], *args: Any) -> T:
        return retry_call(fn, *args, backoff=self.options.backoff, retry_on=TemporaryError, sleep=self.sleep)

    def _check(self, spec: LoadBalancerSpec) -> ServiceOptions:
        check_supported(self.name, self.capabilities, spec)
        service = ServiceOptions.parse(spec)
        check_spec(spec, service, self.options)
        check_targets(spec)
        return service

    def _round(
        self, spec: LoadBalancerSpec, service: ServiceOptions
    ) -> tuple[AzureWork, list[ProviderError], Resolved]:
        """Observe, then plan every step of an ensure; also what blocks it and what is already known."""
        ref, base, scheme = spec.ref, service_base(spec.ref), spec.scheme
        lb = lb_name(spec.cluster, scheme)
        groups = (service.pip_resource_group,) if service.pip_resource_group else ()
        observed = self.observer.observe(ref, pip_groups=groups)
        current = observed.lbs[scheme]
        blocked: list[ProviderError] = []
        if scheme in observed.foreign:
            blocked.append(_taken(f"load balancer {lb}", f"cluster {spec.cluster}'s tag"))
        owner = slice_ownership(current, base, ref)
        if owner is Ownership.FOREIGN:
            blocked.append(_taken(f"frontend {base} on {lb}", f"a record naming Service {ref.service}"))
        recorded = records(current).get(base, "").partition(" ")[2] if owner is Ownership.MINE else None
        ref = with_uid(ref, recorded)
        resolved = Resolved(frontend_id=str((frontend_of(current, base) or {}).get("id") or "") or None)
        if scheme is Scheme.INTERNAL and owner is not Ownership.FOREIGN:
            resolved.address = frontend_address(current, base)
        pips = self._public_ip(spec, service, observed, ref, base)
        blocked += pips.blocked
        steps = list(pips.before)
        resolved.address = pips.address or resolved.address
        want = desired_slice(spec, service, self.scope, ref=ref, lb=lb, base=base, pip_id=pips.pip_id)
        if blocked:
            reason = "blocked: " + "; ".join(str(error) for error in blocked)
            steps.append(AzureStep((Change(Action.CREATE, "frontend", f"{lb}/{base}", reason=reason),), _never))
        else:
            write = self._converge(current, want, ref=ref, base=base, lb=lb)
            if write.changes:
                steps.append(
                    lb_step(write, current, want, scope=self.scope, ref=ref, base=base, lb=lb, limits=self.limits)
                )
            steps += self._leave(
                observed, _OTHER[scheme], ref, base, claim=frozenset({Ownership.MINE, Ownership.STALE})
            )
        steps += pips.after
        steps += self._rules(spec, service, observed, ref, base, resolved, blocked)
        name = f"{lb}/{base}"
        return AzureWork(name, resolved.frontend_id, tuple(steps)), blocked, resolved

    def _public_ip(
        self, spec: LoadBalancerSpec, service: ServiceOptions, observed: Observed, ref: ServiceRef, base: str
    ) -> PipPlan:
        """An external Service's address (pips.py); an internal one has none, so any it had goes."""
        if spec.scheme is Scheme.EXTERNAL:
            in_use = observed.frontend_pip(ref)
            return plan_public_ip(spec, service, self.scope, base=base, found=observed.pips, in_use=in_use)
        return PipPlan(after=removal_steps(service_pips(observed.pips, ref), "an internal Service has no public IP"))

    def _converge(
        self, current: Any, want: Any, *, ref: ServiceRef, base: str, lb: str, targets_only: bool = False
    ) -> LbWrite:
        return converge(
            current,
            want,
            ref=ref,
            base=base,
            lb=lb,
            skeleton=lb_skeleton(self.options.location, {cluster_tag_key(): ref.cluster}),
            vnet_id=self.scope.vnet_id() if want is not None and want.pool_ips else None,
            limits=self.limits,
            targets_only=targets_only,
        )

    def _leave(
        self, observed: Observed, scheme: Scheme, ref: ServiceRef, base: str, *, claim: frozenset[Ownership]
    ) -> list[AzureStep]:
        """The steps that remove the Service's parts from the balancer of ``scheme``, if it has any there."""
        lb = observed.lbs[scheme]
        if slice_ownership(lb, base, ref) not in claim:
            return []
        name = lb_name(ref.cluster, scheme)
        write = self._converge(lb, None, ref=ref, base=base, lb=name)
        if not write.changes:
            return []
        return [lb_step(write, lb, None, scope=self.scope, ref=ref, base=base, lb=name, limits=self.limits)]

    def _rules(
        self,
        spec: LoadBalancerSpec | None,
        service: ServiceOptions | None,
        observed: Observed,
        ref: ServiceRef,
        base: str,
        resolved: Resolved,
        blocked: list[ProviderError],
        claim: frozenset[Ownership] = frozenset({Ownership.MINE, Ownership.STALE}),
    ) -> list[AzureStep]:
        """The security group step: the Service's rules for ``spec``, or none (remove them) when ``spec`` is None."""
        name = self.options.security_group_name
        if name is None:
            return []

        def wanted(address: str | None) -> list[dict[str, Any]]:
            return [] if spec is None or service is None else desired_rules(spec, service, ref, base, address)

        if observed.nsg is None:
            if wanted(None):
                blocked.append(NotFoundError(f"network security group {name} not found in {self.scope.network_group}"))
            return []
        try:
            changes, _ = nsg_converge(
                observed.nsg,
                wanted(resolved.address),
                ref=ref,
                base=base,
                max_rules=self.limits.rules_per_security_group,
                claim=claim,
            )
        except ProviderError as error:
            blocked.append(error)
            return []
        if not changes:
            return []
        return [
            nsg_step(
                changes,
                observed.nsg,
                wanted,
                group=self.scope.network_group,
                name=name,
                ref=ref,
                base=base,
                max_rules=self.limits.rules_per_security_group,
                claim=claim,
            )
        ]

    def _ensure_once(self, spec: LoadBalancerSpec, service: ServiceOptions) -> LoadBalancerStatus:
        work, blocked, resolved = self._round(spec, service)
        if blocked:
            raise blocked[0]
        context = Context(self.arm, resolved)
        run_steps(work, context, log=log, ident=str)
        base = service_base(spec.ref)
        lb = lb_name(spec.cluster, spec.scheme)
        return LoadBalancerStatus(
            ingress=(Ingress(ip=resolved.address),) if resolved.address else (),
            cloud_name=f"{lb}/{base}",
            cloud_id=resolved.frontend_id,
        )

    def _update_targets_once(self, spec: LoadBalancerSpec, service: ServiceOptions) -> None:
        ref, base = spec.ref, service_base(spec.ref)
        lb = lb_name(spec.cluster, spec.scheme)
        current = self.observer.balancers(spec.cluster).lbs[spec.scheme]
        frontend = frontend_of(current, base)
        if frontend is None or slice_ownership(current, base, ref) is not Ownership.MINE:
            raise NotFoundError(f"no load balancer for service {ref} yet: ensure it first")
        pip = ((frontend.get("properties") or {}).get("publicIPAddress") or {}).get("id")
        want = desired_slice(spec, service, self.scope, ref=ref, lb=lb, base=base, pip_id=pip)
        write = self._converge(current, want, ref=ref, base=base, lb=lb, targets_only=True)
        if not write.changes:
            return
        step = lb_step(
            write, current, want, scope=self.scope, ref=ref, base=base, lb=lb, limits=self.limits, targets_only=True
        )
        work = AzureWork(f"{lb}/{base}", str(frontend.get("id")), (step,))
        run_steps(work, Context(self.arm), log=log, ident=str)

    def _delete_once(self, ref: ServiceRef) -> bool:
        """Everything whose tags (or record, or description) name exactly this Service: its rules, its parts of
        either balancer (the balancer too when it was the last), then its public IPs."""
        base = service_base(ref)
        observed = self.observer.observe(ref)
        blocked: list[ProviderError] = []
        steps = self._rules(None, None, observed, ref, base, Resolved(), blocked, claim=_MINE)
        for scheme in (Scheme.EXTERNAL, Scheme.INTERNAL):
            steps += self._leave(observed, scheme, ref, base, claim=_MINE)
        steps += removal_steps(owned_by(observed.pips, ref), "the Service is gone")
        if not steps:
            return False
        run_steps(AzureWork(base, None, tuple(steps)), Context(self.arm), log=log, ident=str)
        return True

    # --- status --------------------------------------------------------------------------------------------------

    def _address(self, lb: Any, base: str) -> str | None:
        frontend = frontend_of(lb, base) or {}
        props = frontend.get("properties") or {}
        if props.get("privateIPAddress"):
            return str(props["privateIPAddress"])
        pip_id = (props.get("publicIPAddress") or {}).get("id")
        pip = self.arm.get_by_id(Kind.PUBLIC_IPS, str(pip_id)) if pip_id else None
        address = (pip or {}).get("properties", {}).get("ipAddress")
        return str(address) if address else None

    def _status(self, lb: Any, base: str, address: str | None) -> LoadBalancerStatus:
        frontend = frontend_of(lb, base) or {}
        return LoadBalancerStatus(
            ingress=(Ingress(ip=address),) if address else (),
            cloud_name=f"{lb.get('name')}/{base}",
            cloud_id=str(frontend.get("id")) if frontend.get("id") else None,
        )


def _taken(what: str, lacking: str) -> ProviderError:
    return ConflictError(f"{what} exists without {lacking}: cloudlb neither adopts nor changes it")


def _never(_: Context) -> str:
    raise AssertionError("a blocked round never runs its steps")
