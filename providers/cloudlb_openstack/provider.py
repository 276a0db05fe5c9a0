"""``OpenStackProvider``: the ``openstack`` provider. One Octavia load balancer per Service, through openstacksdk.

Where this sits: the Provider protocol (cloudlb/provider.py) over ``OpenStackClient`` (client.py), the one door to
Octavia and Neutron. Every entry point checks the spec first (capabilities, then ``ServiceOptions`` from its
annotations, then the desired load balancer) and makes no call when it is refused. ``ensure`` then runs rounds:
find the Service's load balancers by tags, wait out any PENDING_* state (never write into one), read what lies
under the kept one, ``converge`` and run the steps with ``cloudlb.apply``. A round that ends in a temporary error (a
409, a 5xx, a lost connection, a wait that timed out) is followed by a fresh round, so a write whose answer was lost
is found by its tags rather than repeated.

What the capabilities mean here: the algorithms are Octavia's ROUND_ROBIN, LEAST_CONNECTIONS and SOURCE_IP (there
is no random one); ClientIP affinity is SOURCE_IP session persistence; source ranges are listeners'
``allowed_cidrs``; ``loadBalancerIP`` is the floating IP of an external Service and the VIP address of an internal
one; the proxy protocol is the pool protocol PROXY or PROXYV2 (TCP ports only). IPv6 VIPs and TLS are not offered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from cloudlb.apply import Classified, Work, run_steps
from cloudlb.capabilities import check_supported
from cloudlb.errors import ConfigError, NotFoundError, PermanentError, TemporaryError
from cloudlb.model import (
    Feature,
    Ingress,
    LoadBalancerSpec,
    LoadBalancerStatus,
    OwnedLoadBalancer,
    ServiceRef,
)
from cloudlb.naming import CLUSTER_TAG, UID_TAG, Ownership, owner_of, ownership
from cloudlb.plan import Plan
from cloudlb.retry import retry_call
from cloudlb_openstack.client import OpenStackClient
from cloudlb_openstack.config import OpenStackConfig
from cloudlb_openstack.converge import converge, converge_targets, immutable_of
from cloudlb_openstack.desired import DesiredLoadBalancer, desired_load_balancer, load_balancer_name
from cloudlb_openstack.floating import release_floating_ip
from cloudlb_openstack.observe import Depth, find, observe, service_tags
from cloudlb_openstack.records import LoadBalancerRecord
from cloudlb_openstack.service import ServiceOptions
from cloudlb_openstack.steps import Context, OsStep, delete_load_balancer
from cloudlb_openstack.tagging import FLOATING_IP_TAG, KEEP

__all__ = ["CAPABILITIES", "OpenStackProvider"]

log = logging.getLogger("cloudlb.openstack")

CAPABILITIES = frozenset(
    {
        Feature.TCP,
        Feature.UDP,
        Feature.SCTP,
        Feature.MIXED_PROTOCOLS,
        Feature.SOURCE_RANGES,
        Feature.SESSION_AFFINITY,
        Feature.NODE_TARGETS,
        Feature.POD_TARGETS,
        Feature.INTERNAL,
        Feature.LOAD_BALANCER_IP,
        Feature.PROXY_PROTOCOL,
        Feature.HTTP_HEALTH_CHECK,
        Feature.ALGORITHM_ROUND_ROBIN,
        Feature.ALGORITHM_LEAST_CONNECTIONS,
        Feature.ALGORITHM_SOURCE_IP,
    }
)

_Work = Work[OpenStackClient, str]
PROGRESS_SLACK = 10  # rounds cut short after progress, beyond one per step of the first plan, before giving up


class OpenStackProvider:
    """Load balancers on OpenStack Octavia. Building one makes no call and reads no file: the connection (and any
    clouds.yaml named by ``cloud``) is opened on first use. ``OpenStackConfig`` documents the options."""

    name = "openstack"

    def __init__(
        self,
        auth_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        project_name: str | None = None,
        user_domain_name: str = "Default",
        project_domain_name: str = "Default",
        region_name: str | None = None,
        floating_network_id: str | None = None,
        subnet_id: str | None = None,
        cloud: str | None = None,
        *,
        member_subnet_id: str | None = None,
        poll_interval: float = 0.5,
        max_poll_interval: float = 10.0,
        wait_timeout: float = 600.0,
        read_retries: int = 5,
        rounds: int = 8,
        round_delay: float = 1.0,
        request_timeout: float = 60.0,
    ) -> None:
        options = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.config = OpenStackConfig.build(**options)
        self.client = OpenStackClient(self.config)
        self._external_network: str | None = None

    @property
    def capabilities(self) -> frozenset[Feature]:
        return CAPABILITIES

    def load_balancer_name(self, spec: LoadBalancerSpec) -> str:
        return load_balancer_name(spec)

    def close(self) -> None:
        """Close the connection, if one was opened."""
        self.client.close()

    # --- the Provider protocol -----------------------------------------------------------------------------------

    def plan(self, spec: LoadBalancerSpec) -> Plan:
        """What ``ensure`` would do. Reads only: it does not even wait for a busy load balancer."""
        service = self._check(spec)
        work, _ = self._round(spec, service, settle=False)
        return work.plan

    def ensure(self, spec: LoadBalancerSpec) -> LoadBalancerStatus:
        """Create or converge the load balancer; nothing is written where nothing drifted."""
        service = self._check(spec)
        return self._ensure(spec, service)

    def update_targets(self, spec: LoadBalancerSpec) -> None:
        """Only the pools' members: one batch PUT per pool whose member set differs."""
        service = self._check(spec)
        self._update_targets(spec, service)

    def get(self, spec: LoadBalancerSpec) -> LoadBalancerStatus | None:
        """The Service's load balancer and the address it answers on, or None. Needs only the spec's identity."""
        kept = find(self.client, spec.ref).kept
        if kept is None:
            return None
        attached = self.client.floating_ips(port_id=kept.vip_port_id)
        return _status(kept, attached[0].address if attached else None)

    def delete(self, spec: LoadBalancerSpec | OwnedLoadBalancer) -> bool:
        """Remove the Service's load balancers (with cascade) and the floating IPs cloudlb allocated for them; True
        if anything was removed. Only resources whose tags name the Service (and, for an ``OwnedLoadBalancer``, its
        uid) are touched; a floating IP the user brought is left, and so is one ``keep-floatingip`` asked to keep."""
        done = [0]
        self._rounds(lambda: self._removal(spec), done)
        return done[0] > 0

    def list_owned(self, cluster: str) -> list[OwnedLoadBalancer]:
        """Every load balancer whose tags name ``cluster``."""
        out = []
        for lb in self.client.load_balancers({CLUSTER_TAG: cluster}):
            owner = owner_of(lb.tags)
            if owner is not None and owner.cluster == cluster:
                out.append(OwnedLoadBalancer(owner.cluster, owner.namespace, owner.name, owner.uid, lb.name, lb.id))
        return sorted(out, key=lambda o: (o.namespace, o.name, o.cloud_id))

    # --- rounds --------------------------------------------------------------------------------------------------

    def _check(self, spec: LoadBalancerSpec) -> ServiceOptions:
        """Everything that can refuse a spec without a call: capabilities, annotations, the desired state."""
        check_supported(self.name, self.capabilities, spec)
        service = ServiceOptions.parse(spec, self.config)
        desired_load_balancer(spec, service, uid=spec.uid)
        return service

    def _round(
        self, spec: LoadBalancerSpec, service: ServiceOptions, *, settle: bool, depth: Depth = Depth.FULL
    ) -> tuple[_Work, Context]:
        desired = desired_load_balancer(spec, service, uid=spec.uid)
        pinned = desired.immutable()

        def matches(lb: LoadBalancerRecord) -> bool:
            actual = immutable_of(lb)
            return all(actual[key] == value for key, value in pinned.items())

        found = find(self.client, spec.ref, prefer=matches)
        if settle:
            found = self._settle(spec.ref, found, matches)
        candidate = found.kept
        kept = candidate if candidate is not None and matches(candidate) else None
        if kept is not None and kept.provisioning_status == "ERROR":
            raise PermanentError(
                f"load balancer {kept.label} is in ERROR: Octavia cannot change it; delete it (cloudlb delete) and "
                "apply again"
            )
        recorded = candidate.tags.get(UID_TAG, "") if candidate is not None else ""
        if not spec.uid and recorded:
            # A spec from a file has no uid; the one a controller recorded stays, since it still names the Service.
            desired = desired_load_balancer(spec, service, uid=recorded)
        if kept is None and depth is Depth.FULL and desired.vip_subnet_id is None:
            raise ConfigError(
                "no VIP subnet: set the subnet_id option or the loadbalancer.openstack.org/subnet-id annotation"
            )
        address = desired.floating_ip.address if desired.floating_ip is not None else None
        observed = observe(self.client, spec.ref, found, kept, depth=depth, address=address)
        if depth is Depth.TARGETS:
            steps, ctx = converge_targets(desired, observed)
        else:
            steps, ctx = converge(desired, observed, network_id=self._network(desired))
        return _Work(desired.name, kept.id if kept is not None else None, tuple(steps)), ctx

    def _settle(
        self, ref: ServiceRef, found: Classified[LoadBalancerRecord], matches: Callable[[LoadBalancerRecord], bool]
    ) -> Classified[LoadBalancerRecord]:
        """Wait until none of the Service's load balancers is PENDING_*, then look again: a write now would be refused
        with a 409, and what the pending operation does (a delete, say) changes the plan."""
        busy = [lb for lb in (*found.mine, *found.stale) if lb.pending]
        for lb in busy:
            log.info("waiting for load balancer %s: it is %s", lb.label, lb.provisioning_status)
            self.client.wait_settled(lb.id, lb.label)
        return find(self.client, ref, prefer=matches) if busy else found

    def _network(self, desired: DesiredLoadBalancer) -> str | None:
        """The floating network: configured, annotated, or the cloud's only external network (looked up once)."""
        want = desired.floating_ip
        if want is None:
            return None
        if want.network_id is not None:
            return want.network_id
        if self._external_network is None:
            networks = self.client.external_networks()
            if len(networks) != 1:
                raise ConfigError(
                    f"found {len(networks)} external networks: set the floating_network_id option or the "
                    "loadbalancer.openstack.org/floating-network-id annotation"
                )
            self._external_network = networks[0]
        return self._external_network

    def _rounds(self, build: Callable[[], tuple[_Work, Sequence[OsStep]]], done: list[int] | None = None) -> None:
        """Observe, plan and run until a round completes. Rounds that fail without doing anything back off
        (``round_backoff``); a round cut short after some of its steps went through made progress, so the next one
        starts at once and the backoff starts over. ``done`` counts the steps completed."""
        tally = done if done is not None else [0]
        planned: list[int] = []  # the steps of the first plan: rounds that each make progress are bounded by it
        progressed = 0
        while True:
            failure = retry_call(self._round_once, build, tally, planned, backoff=self.config.round_backoff)
            if failure is None:
                return
            progressed += 1
            if progressed > planned[0] + PROGRESS_SLACK:
                raise failure

    def _round_once(
        self, build: Callable[[], tuple[_Work, Sequence[OsStep]]], tally: list[int], planned: list[int]
    ) -> TemporaryError | None:
        """One round: None when it completed, the error when it failed after progress; it raises when it failed
        without any."""
        work, steps = build()
        planned[:] = planned or [len(steps)]
        completed = 0
        try:
            for step in steps:
                run_steps(work, self.client, log=log, steps=(step,))
                completed += 1
            return None
        except TemporaryError as exc:
            if not completed:
                raise
            log.info("%s: %d step(s) done before a temporary error (%s); observing again", work.name, completed, exc)
            return exc
        finally:
            tally[0] += completed

    def _ensure(self, spec: LoadBalancerSpec, service: ServiceOptions) -> LoadBalancerStatus:
        last: list[Context] = []

        def build() -> tuple[_Work, Sequence[OsStep]]:
            work, ctx = self._round(spec, service, settle=True)
            last[:] = [ctx]
            return work, work.steps

        self._rounds(build)
        lb = last[0].lb
        assert lb is not None, "a round for a spec always ends with a load balancer"
        return _status(lb, last[0].floating_address)

    def _update_targets(self, spec: LoadBalancerSpec, service: ServiceOptions) -> None:
        def build() -> tuple[_Work, Sequence[OsStep]]:
            work, _ = self._round(spec, service, settle=True, depth=Depth.TARGETS)
            if work.current is None:
                raise NotFoundError(f"no load balancer for service {spec.ref} yet: ensure it first")
            return work, work.target_steps

        self._rounds(build)

    def _removal(self, spec: LoadBalancerSpec | OwnedLoadBalancer) -> tuple[_Work, Sequence[OsStep]]:
        """The Service's load balancers and the floating IPs cloudlb allocated for it, found by tags."""
        if isinstance(spec, OwnedLoadBalancer):
            ref, keep, name = spec.ref, False, spec.cloud_name
            lb = self.client.load_balancer(spec.cloud_id)
            # The id alone proves nothing: the tags must still say this Service (this uid) owns it.
            lbs = [lb] if lb is not None and ownership(lb.tags, ref) is Ownership.MINE else []
        else:
            ref, name = spec.ref, load_balancer_name(spec)
            keep = ServiceOptions.for_identity(spec, self.config).keep_floating_ip
            lbs = list(find(self.client, ref).mine)
        steps: list[OsStep] = [delete_load_balancer(lb, reason="the Service is gone") for lb in lbs]
        for fip in self.client.floating_ips(tags=service_tags(ref)):
            if ownership(fip.tags, ref) is Ownership.MINE and not keep and fip.tags.get(FLOATING_IP_TAG) != KEEP:
                steps.append(release_floating_ip(fip, reason="allocated by cloudlb for the Service"))
        return _Work(name, None, tuple(steps)), steps


def _status(lb: LoadBalancerRecord, floating_address: str | None) -> LoadBalancerStatus:
    """The floating IP of an external Service, else the VIP."""
    return LoadBalancerStatus(
        ingress=(Ingress(ip=floating_address or lb.vip_address),), cloud_name=lb.name, cloud_id=lb.id
    )
