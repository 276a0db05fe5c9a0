"""The ``aws`` provider: ELBv2 Network Load Balancers (and classic ELBs) for Kubernetes Services, through boto3.

Registered under the ``cloudlb.providers`` entry point ``aws = cloudlb_aws.provider:AwsProvider``; use it as
``cloudlb.get_provider("aws", region=..., endpoint_url=...)``. The modules follow the pipeline: ``options``
(provider options and per-Service annotations), ``validate`` (AWS's limits, before any call), ``nlb_model`` (the
desired NLB), ``nlb_observe`` (what is there, found by tags), ``nlb``/``nlb_steps`` (the plan and its calls),
``clients`` (the one door to AWS: rate limits, retries, error mapping, call counts) and ``provider``.
"""

from cloudlb_aws.options import AwsOptions, LoadBalancerType, ServiceOptions
from cloudlb_aws.provider import AwsProvider

__all__ = ["AwsOptions", "AwsProvider", "LoadBalancerType", "ServiceOptions"]
