"""The local provider: a real L4 load balancer served by ``cloudlb serve`` (issue 3)."""
