"""``AwsProvider``: the ``aws`` provider. An ELBv2 Network Load Balancer per Service by default, a classic ELB with
``service.beta.kubernetes.io/aws-load-balancer-type: clb`` (or the ``default_type`` option).

Where this sits: the Provider protocol (cloudlb/provider.py) over two backends (nlb.py, classic.py) and a
security-group manager (security_groups.py), all reaching AWS through one ``AwsClients``. Every entry point
checks the spec first (capabilities, annotations, AWS's limits: validate.py) and makes no call when it is refused.
``ensure`` observes the backend the spec's type names (and the others, to remove a balancer of another type once
the new one stands), plans, and runs the steps with ``cloudlb.apply``. A round that ends in a temporary error
(throttled past the per-call retries, a lost response to a create) is retried from a fresh observation, so a
resource whose creation answer was lost is found by its tags rather than created twice.

What an ensure reads: the chosen type's observation (for an NLB with P ports, 4 + 2P reads, listed in
nlb_observe.py), the security groups' (security_groups.py) and, to catch a change of type, the other type's
balancers at identity depth (classic.py). A converged Service makes no mutating call.

What the capabilities mean here: ``ALGORITHM_ROUND_ROBIN`` is the NLB's own flow hash, the default, as no NLB
setting picks targets in turn; ``ALGORITHM_SOURCE_IP`` and ``SESSION_AFFINITY`` are target group stickiness by
source IP (which has no timeout); ``PROXY_PROTOCOL`` is version 2 only; ``SOURCE_RANGES`` needs managed security
groups. Random and least-connections, ``loadBalancerIP`` (use the EIP annotation) and IPv6 are not offered.
"""

from __future__ import annotations

import logging
from typing import Any

from cloudlb.apply import run_steps
from cloudlb.capabilities import check_supported
from cloudlb.errors import ConflictError, NotFoundError, TemporaryError, UnsupportedFeatureError
from cloudlb.model import Feature, LoadBalancerSpec, LoadBalancerStatus, OwnedLoadBalancer
from cloudlb.plan import Plan
from cloudlb.retry import retry_call
from cloudlb_aws import validate
from cloudlb_aws.classic import ClassicBackend
from cloudlb_aws.clients import AwsClients
from cloudlb_aws.interfaces import (
    AwsStep,
    AwsWork,
    Backend,
    Convergence,
    Depth,
    SecurityGroupManager,
    UnmanagedSecurityGroups,
)
from cloudlb_aws.nlb import NlbBackend
from cloudlb_aws.options import AwsOptions, LoadBalancerType, ServiceOptions
from cloudlb_aws.security_groups import SecurityGroups
from cloudlb_aws.subnets import Subnets

__all__ = ["BASE_CAPABILITIES", "AwsProvider"]

log = logging.getLogger("cloudlb.aws")

BASE_CAPABILITIES = frozenset(
    {
        Feature.TCP,
        Feature.UDP,
        Feature.MIXED_PROTOCOLS,
        Feature.TLS,
        Feature.SESSION_AFFINITY,
        Feature.NODE_TARGETS,
        Feature.POD_TARGETS,
        Feature.INTERNAL,
        Feature.PROXY_PROTOCOL,
        Feature.HTTP_HEALTH_CHECK,
        Feature.ALGORITHM_ROUND_ROBIN,
        Feature.ALGORITHM_SOURCE_IP,
    }
)


class AwsProvider:
    """Load balancers on AWS. ``AwsProvider(**options)`` takes the ``AwsOptions`` fields as keyword arguments;
    building it makes no call. ``from_options`` lets tests and tools bring their own clients and parts."""

    name = "aws"

    def __init__(self, **options: object) -> None:
        parsed = AwsOptions.from_kwargs(**options)
        self._setup(parsed, AwsClients(parsed), None, None)

    @classmethod
    def from_options(
        cls,
        options: AwsOptions,
        *,
        clients: AwsClients | None = None,
        security_groups: SecurityGroupManager | None = None,
        classic: Backend[Any] | None = None,
        without_classic: bool = False,
    ) -> AwsProvider:
        """A provider over given parts; the ones left out are built as ``AwsProvider(**options)`` builds them.
        ``without_classic`` leaves the classic ELB out (specs of type clb are then unsupported)."""
        provider = cls.__new__(cls)
        provider._setup(options, clients or AwsClients(options), security_groups, classic, without_classic)
        return provider

    def _setup(
        self,
        options: AwsOptions,
        clients: AwsClients,
        security_groups: SecurityGroupManager | None,
        classic: Backend[Any] | None,
        without_classic: bool = False,
    ) -> None:
        self.options = options
        self.clients = clients
        self.subnets = Subnets(clients, options)
        if security_groups is None:
            security_groups = _default_security_groups(clients, options)
        self.security_groups = security_groups
        self.nlb = NlbBackend(clients, options, security_groups=security_groups, subnets=self.subnets)
        self.backends: dict[LoadBalancerType, Backend[Any]] = {LoadBalancerType.NLB: self.nlb}
        if classic is None and not without_classic:
            classic = _default_classic(clients, options, security_groups, self.subnets)
        if classic is not None:
            self.backends[LoadBalancerType.CLB] = classic
        managed = not isinstance(security_groups, UnmanagedSecurityGroups)
        self._capabilities = BASE_CAPABILITIES | ({Feature.SOURCE_RANGES} if managed else set())

    @property
    def capabilities(self) -> frozenset[Feature]:
        """What this provider honours (module docstring); SOURCE_RANGES only with managed security groups."""
        return self._capabilities

    def load_balancer_name(self, spec: LoadBalancerSpec) -> str:
        """The balancer's deterministic name, at most 32 characters."""
        service = ServiceOptions.parse(spec, self.options)
        return self._backend(spec, service).load_balancer_name(spec, service)

    # --- the Provider protocol -----------------------------------------------------------------------------------

    def plan(self, spec: LoadBalancerSpec) -> Plan:
        """What ``ensure`` would do. Reads only; an invalid or unsupported spec makes no call."""
        service = self._check(spec)
        convergence, removals = self._round(spec, service)
        return _combined(convergence.work, removals).plan

    def ensure(self, spec: LoadBalancerSpec) -> LoadBalancerStatus:
        """Create or converge the balancer; nothing is called where nothing drifted."""
        service = self._check(spec)
        return retry_call(
            self._ensure_once,
            spec,
            service,
            backoff=self.options.ensure_backoff,
            retry_on=TemporaryError,
            sleep=self.clients.sleep,
        )

    def update_targets(self, spec: LoadBalancerSpec) -> None:
        """Only the target pools: register the new targets, then deregister the old ones."""
        service = self._check(spec)
        backend = self._backend(spec, service)

        def once() -> None:
            observed = backend.observe(spec, service, Depth.TARGETS)
            if backend.status(observed) is None:
                raise NotFoundError(f"no load balancer for service {spec.ref} yet: ensure it first")
            work = backend.converge(spec, service, observed).work
            run_steps(work, self.clients, log=log, steps=work.target_steps)

        retry_call(once, backoff=self.options.ensure_backoff, retry_on=TemporaryError, sleep=self.clients.sleep)

    def get(self, spec: LoadBalancerSpec) -> LoadBalancerStatus | None:
        """The Service's balancer, of whichever type it is, or None. Needs only the spec's identity."""
        service = _identity_options(spec, self.options)
        for backend in self._by_preference(service):
            status = backend.status(backend.observe(spec, service, Depth.IDENTITY))
            if status is not None:
                return status
        return None

    def delete(self, spec: LoadBalancerSpec | OwnedLoadBalancer) -> bool:
        """Remove everything the Service holds, of every type; True if anything was removed. Only resources whose
        tags name the Service (and, for an ``OwnedLoadBalancer``, its uid) are touched."""
        return retry_call(
            self._delete_once,
            spec,
            backoff=self.options.ensure_backoff,
            retry_on=TemporaryError,
            sleep=self.clients.sleep,
        )

    def list_owned(self, cluster: str) -> list[OwnedLoadBalancer]:
        """Every balancer, of every type, whose tags name ``cluster``."""
        found = [owned for backend in self.backends.values() for owned in backend.list_owned(cluster)]
        return sorted(found, key=lambda o: (o.namespace, o.name, o.cloud_id))

    # --- internals -----------------------------------------------------------------------------------------------

    def _check(self, spec: LoadBalancerSpec) -> ServiceOptions:
        check_supported(self.name, self.capabilities, spec)
        service = ServiceOptions.parse(spec, self.options)
        validate.check_spec(spec, service)
        self._backend(spec, service).check(spec, service)
        return service

    def _backend(self, spec: LoadBalancerSpec, service: ServiceOptions) -> Backend[Any]:
        backend = self.backends.get(service.type)
        if backend is None:
            raise UnsupportedFeatureError(self.name, [f"type-{service.type.value}"], detail=f"service {spec.ref}")
        return backend

    def _by_preference(self, service: ServiceOptions) -> list[Backend[Any]]:
        return sorted(self.backends.values(), key=lambda b: b.type is not service.type)

    def _round(self, spec: LoadBalancerSpec, service: ServiceOptions) -> tuple[Convergence, list[AwsStep]]:
        """Observe, then plan: the chosen type's work, and the removal of what other types hold for the Service."""
        backend = self._backend(spec, service)
        convergence = backend.converge(spec, service, backend.observe(spec, service, Depth.FULL))
        removals: list[AwsStep] = []
        for other in self.backends.values():
            if other is not backend:
                observed = other.observe(spec, service, Depth.IDENTITY)
                if other.exists(observed):
                    removals += other.remove(observed)
        return convergence, removals

    def _ensure_once(self, spec: LoadBalancerSpec, service: ServiceOptions) -> LoadBalancerStatus:
        convergence, removals = self._round(spec, service)
        if convergence.blocked:
            raise ConflictError(f"cannot ensure service {spec.ref}: {convergence.blocked}")
        run_steps(_combined(convergence.work, removals), self.clients, log=log)
        return convergence.status()

    def _delete_once(self, spec: LoadBalancerSpec | OwnedLoadBalancer) -> bool:
        removed = False
        for backend in self.backends.values():
            if isinstance(spec, OwnedLoadBalancer):
                observed = backend.observe_owned(spec)
                if observed is None:
                    continue
                name = spec.cloud_name
            else:
                service = _identity_options(spec, self.options)
                observed = backend.observe(spec, service, Depth.IDENTITY)
                name = backend.load_balancer_name(spec, service)
            steps = backend.remove(observed)
            if steps:
                run_steps(AwsWork(name, None, tuple(steps)), self.clients, log=log)
                removed = True
        return removed


def _combined(work: AwsWork, removals: list[AwsStep]) -> AwsWork:
    return AwsWork(work.name, work.current, (*work.steps, *removals)) if removals else work


def _identity_options(spec: LoadBalancerSpec, options: AwsOptions) -> ServiceOptions:
    """The spec's options when its annotations parse, else the defaults: get and delete need only the identity."""
    try:
        return ServiceOptions.parse(spec, options)
    except ValueError:
        identity = LoadBalancerSpec(spec.cluster, spec.namespace, spec.name, spec.uid)
        return ServiceOptions.parse(identity, options)


def _default_security_groups(clients: AwsClients, options: AwsOptions) -> SecurityGroupManager:
    if not options.manage_security_groups:
        return UnmanagedSecurityGroups(clients)
    return SecurityGroups(clients, options)


def _default_classic(
    clients: AwsClients, options: AwsOptions, security_groups: SecurityGroupManager, subnets: Subnets
) -> Backend[Any]:
    return ClassicBackend(clients, options, security_groups=security_groups, subnets=subnets)
