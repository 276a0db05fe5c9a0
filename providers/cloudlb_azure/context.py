"""What the Azure provider's steps share while they run: ARM, and what earlier steps learnt.

Where this sits: ``cloudlb.apply.run_steps`` hands each step a ``Context``. A public IP or a balancer created by one
step has an address that a later step needs (the security rules' destination, the Service's status), so steps
record it in ``Resolved`` rather than in a plan built before anything existed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cloudlb.apply import Step, Work
from cloudlb_azure.arm import Arm

__all__ = ["AzureStep", "AzureWork", "Context", "Resolved"]


@dataclass
class Resolved:
    """The Service's frontend as the steps leave it: its id and address (public or private)."""

    frontend_id: str | None = None
    address: str | None = None


@dataclass
class Context:
    arm: Arm
    resolved: Resolved = field(default_factory=Resolved)


AzureStep = Step[Context, str]
AzureWork = Work[Context, str]
