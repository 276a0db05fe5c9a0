"""Credentials for the fake ARM only: a static bearer token, and leave to send it over plain HTTP on loopback.

Where this sits: the provider builds ``NetworkManagementClient`` with ``FakeArmCredential`` when its options say
``use_mock_credential`` (which ``cloudlb mock-server azure`` prints); production uses azure-identity's
``DefaultAzureCredential``. Either way the SDK's own ``BearerTokenCredentialPolicy`` stays in the pipeline and
sends ``Authorization: Bearer ...``, which the fake checks. ``LoopbackHttpPolicy`` is for the one case where the
fake is reached over plain HTTP, behind cloudlb's fault-injecting proxy: the bearer policy refuses non-HTTPS URLs,
and this per-call policy lifts that refusal for loopback hosts only.
"""

from __future__ import annotations

import ipaddress
import time
import urllib.parse
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy

__all__ = ["FAKE_TOKEN", "FakeArmCredential", "LoopbackHttpPolicy"]

FAKE_TOKEN = "cloudlb-fake-arm-token"


class FakeArmCredential:
    """A ``TokenCredential`` returning one static token that never expires within a test run."""

    def __init__(self, token: str = FAKE_TOKEN) -> None:
        self._token = token

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LoopbackHttpPolicy(SansIOHTTPPolicy[Any, Any]):
    """Let the bearer-token policy send the fake's token over plain HTTP, to loopback addresses only."""

    def on_request(self, request: PipelineRequest[Any]) -> None:
        if request.http_request.url.lower().startswith("http://") and _is_loopback(request.http_request.url):
            request.context["enforce_https"] = False
