"""The local provider: a real L4 load balancer on this host, served by ``cloudlb serve`` (see API.md).

``LocalProvider`` is the client (registered as the ``local`` entry point); the daemon, its API and the data plane
live in the other modules of this package.
"""

from cloudlb_local.provider import LocalProvider

__all__ = ["LocalProvider"]
