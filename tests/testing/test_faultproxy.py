"""The fault proxy seen by a plain HTTP client: transparent passthrough, each fault kind, rule selection, rates."""

from __future__ import annotations

import http.client
import json
import random
import socket
import urllib.parse
from collections.abc import Iterator

import pytest

from cloudlb.testing import (
    AWS_QUERY_THROTTLING,
    Fault,
    FaultKind,
    FaultProxy,
    FaultRule,
    Match,
    ProxiedRequest,
)
from tests.testing.fakes import CHUNKS, Upstream

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding"}


def connect(url: str) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)


def fetch(
    url: str, method: str = "GET", path: str = "/", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, list[tuple[str, str]], bytes]:
    conn = connect(url)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def end_to_end(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if name.lower() not in HOP_BY_HOP]


@pytest.fixture
def proxy(upstream: Upstream) -> Iterator[FaultProxy]:
    with FaultProxy(upstream.url) as running:
        yield running


# --- passthrough ---------------------------------------------------------------------------------------------


def test_request_arrives_byte_exact(proxy: FaultProxy, upstream: Upstream) -> None:
    body = random.Random(3).randbytes(300_000)
    headers = {"X-Amz-Date": "20240101T000000Z", "Authorization": "AWS4-HMAC-SHA256 Credential=x", "X-Empty": ""}

    status, _, answer = fetch(proxy.url, "POST", "/echo?Action=Describe&b=%2F", body, headers)

    echoed = json.loads(answer)
    assert status == 200
    assert echoed["raw_body"].encode("latin-1") == body
    assert echoed["path"] == "/echo?Action=Describe&b=%2F"
    sent = [(name, value) for name, value in upstream.seen[0][2]]
    assert ("Host", urllib.parse.urlsplit(proxy.url).netloc) in sent  # the client's Host: signatures stay valid
    for name, value in headers.items():
        assert (name, value) in sent


def test_chunked_request_keeps_its_framing(proxy: FaultProxy, upstream: Upstream) -> None:
    conn = connect(proxy.url)
    conn.request("PUT", "/echo", body=iter([b"hello ", b"chunked ", b"world"]), encode_chunked=True)
    response = conn.getresponse()
    echoed = json.loads(response.read())
    conn.close()

    assert echoed["raw_body"].encode("latin-1") == b"6\r\nhello \r\n8\r\nchunked \r\n5\r\nworld\r\n0\r\n\r\n"
    assert ["Transfer-Encoding", "chunked"] in echoed["headers"]


def test_response_headers_and_body_match_the_upstream_answer(proxy: FaultProxy, upstream: Upstream) -> None:
    direct = fetch(upstream.url, path="/headers")
    proxied = fetch(proxy.url, path="/headers")

    assert proxied[0] == direct[0] == 200
    assert end_to_end(proxied[1]) == end_to_end(direct[1])
    assert [value for name, value in proxied[1] if name == "Set-Cookie"] == ["a=1", "b=2"]


@pytest.mark.parametrize("path", [pytest.param("/chunked", id="chunked"), pytest.param("/until-close", id="close")])
def test_streamed_responses_arrive_whole(proxy: FaultProxy, path: str) -> None:
    status, headers, body = fetch(proxy.url, path=path)

    assert status == 200
    assert body == b"".join(CHUNKS)
    if path == "/chunked":
        assert ("Transfer-Encoding", "chunked") in headers


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("HEAD", "/echo", 200, id="head"),
        pytest.param("GET", "/status/204", 204, id="no-content"),
        pytest.param("GET", "/status/404", 404, id="upstream-404"),
        pytest.param("POST", "/status/500", 500, id="upstream-500"),
    ],
)
def test_upstream_statuses_pass_through_untouched(
    proxy: FaultProxy, upstream: Upstream, method: str, path: str, status: int
) -> None:
    direct_status, _, _ = fetch(upstream.url, method, path)
    proxied_status, _, body = fetch(proxy.url, method, path)

    assert proxied_status == direct_status == status
    assert body == (b"as asked\n" if status in (404, 500) else b"")
    assert proxy.counts.faults == 0
    assert proxy.counts.forwarded == 1


def test_one_client_connection_carries_many_requests(proxy: FaultProxy) -> None:
    conn = connect(proxy.url)
    for i in range(5):
        conn.request("POST", f"/echo?n={i}", body=b"x" * i)
        response = conn.getresponse()
        assert json.loads(response.read())["path"] == f"/echo?n={i}"
    conn.close()

    assert proxy.counts.forwarded == 5


def test_unreachable_upstream_answers_502_and_is_counted() -> None:
    with socket.socket() as placeholder:  # a port nobody listens on
        placeholder.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{placeholder.getsockname()[1]}"
    with FaultProxy(dead) as proxy:
        status, _, body = fetch(proxy.url)
        assert status == 502
        assert b"upstream failed" in body
        assert proxy.counts.upstream_errors == 1


def test_upstream_path_prefix_is_prepended(upstream: Upstream) -> None:
    with FaultProxy(upstream.url + "/echo/") as proxy:
        _, _, body = fetch(proxy.url, path="/v2/pools?x=1")
    assert json.loads(body)["path"] == "/echo/v2/pools?x=1"


# --- each fault kind -----------------------------------------------------------------------------------------


def test_too_many_requests_says_when_to_retry(proxy: FaultProxy, upstream: Upstream) -> None:
    proxy.rules = [FaultRule(Fault.too_many_requests(retry_after=7), rate=1.0)]

    status, headers, _ = fetch(proxy.url, "POST", "/echo", b"data")

    assert status == 429
    assert ("Retry-After", "7") in headers
    assert upstream.seen == []
    assert proxy.counts.injected == {FaultKind.TOO_MANY_REQUESTS: 1}


def test_throttling_answers_the_given_error_body(proxy: FaultProxy, upstream: Upstream) -> None:
    proxy.rules = [FaultRule(Fault.throttling(), rate=1.0)]

    status, headers, body = fetch(proxy.url, "POST", "/echo", b"Action=CreateLoadBalancer")

    assert (status, body) == (400, AWS_QUERY_THROTTLING)
    assert ("Content-Type", "text/xml") in headers
    assert upstream.seen == []


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_server_error_uses_the_given_status(proxy: FaultProxy, upstream: Upstream, code: int) -> None:
    proxy.rules = [FaultRule(Fault.server_error(code), rate=1.0)]

    assert fetch(proxy.url)[0] == code
    assert upstream.seen == []
    assert proxy.counts.injected == {FaultKind.SERVER_ERROR: 1}


def test_reset_closes_without_an_answer(proxy: FaultProxy, upstream: Upstream) -> None:
    proxy.rules = [FaultRule(Fault.reset(), nth=[1])]

    with pytest.raises(ConnectionError):  # RemoteDisconnected or ECONNRESET, depending on timing
        fetch(proxy.url, "POST", "/echo", b"x")
    assert fetch(proxy.url)[0] == 200  # the proxy itself lives on

    assert proxy.counts.injected == {FaultKind.RESET: 1}
    assert len(upstream.seen) == 1


def test_latency_delays_then_forwards(upstream: Upstream) -> None:
    slept: list[float] = []
    rules = [FaultRule(Fault.latency(0.25), nth=[2]), FaultRule(Fault.latency(1.5), nth=[2])]
    with FaultProxy(upstream.url, rules=rules, sleep=slept.append) as proxy:
        statuses = [fetch(proxy.url)[0] for _ in range(3)]
        counts = proxy.counts

    assert statuses == [200, 200, 200]
    assert slept == [1.75]
    assert counts.injected == {FaultKind.LATENCY: 2}
    assert counts.forwarded == 3
    assert counts.faults == 0


def test_latency_combines_with_an_error(upstream: Upstream) -> None:
    slept: list[float] = []
    rules = [FaultRule(Fault.latency(0.5), rate=1.0), FaultRule(Fault.server_error(), rate=1.0)]
    with FaultProxy(upstream.url, rules=rules, sleep=slept.append) as proxy:
        assert fetch(proxy.url)[0] == 503
    assert slept == [0.5]
    assert upstream.seen == []


# --- which requests ------------------------------------------------------------------------------------------


def test_nth_counts_matching_requests_only(proxy: FaultProxy) -> None:
    proxy.rules = [FaultRule(Fault.server_error(), nth=[2, 3], when=Match(method="POST"))]

    statuses = [fetch(proxy.url, method)[0] for method in ("POST", "GET", "POST", "GET", "POST", "POST")]

    assert statuses == [200, 200, 503, 200, 503, 200]


def test_first_firing_error_rule_wins(proxy: FaultProxy) -> None:
    proxy.rules = [FaultRule(Fault.throttling(), nth=[1]), FaultRule(Fault.server_error(), rate=1.0)]

    assert [fetch(proxy.url)[0] for _ in range(2)] == [400, 503]
    assert proxy.counts.injected == {FaultKind.THROTTLING: 1, FaultKind.SERVER_ERROR: 1}


def mutating(action: str) -> bool:
    return not action.startswith(("Describe", "List", "Get"))


@pytest.mark.parametrize(
    ("predicate", "method", "path", "body", "headers", "faulted"),
    [
        pytest.param(Match(method="put"), "PUT", "/", None, {}, True, id="method-case-folded"),
        pytest.param(Match(method=["PUT", "DELETE"]), "GET", "/", None, {}, False, id="method-other"),
        pytest.param(Match(path=r"^/v2/pools/[^/]+/members"), "PUT", "/v2/pools/p1/members", None, {}, True, id="path"),
        pytest.param(Match(path=r"^/v2/pools$"), "GET", "/v2/pools/p1", None, {}, False, id="path-other"),
        pytest.param(Match(action="CreateLoadBalancer"), "GET", "/?Action=CreateLoadBalancer", None, {}, True,
                     id="action-in-query"),
        pytest.param(Match(action=mutating), "POST", "/", b"Action=RegisterTargets&Version=2015-12-01",
                     {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, True, id="action-in-form"),
        pytest.param(Match(action=mutating), "POST", "/", b"Action=DescribeTargetHealth",
                     {"Content-Type": "application/x-www-form-urlencoded"}, False, id="action-read-only"),
        pytest.param(Match(action="RegisterTargets"), "POST", "/", b"Action=RegisterTargets",
                     {"Content-Type": "application/json"}, False, id="action-not-form"),
        pytest.param(Match(action=mutating), "POST", "/", b"{}", {}, False, id="no-action"),
        pytest.param(Match(method="POST", action="X"), "POST", "/?Action=Y", None, {}, False, id="all-must-match"),
        pytest.param(lambda r: r.header("x-tenant") == "t1", "GET", "/", None, {"X-Tenant": "t1"}, True,
                     id="any-callable"),
    ],
)  # fmt: skip
def test_predicates_select_requests(
    proxy: FaultProxy,
    predicate: Match,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    faulted: bool,
) -> None:
    proxy.rules = [FaultRule(Fault.server_error(), rate=1.0, when=predicate)]

    status = fetch(proxy.url, method, path, body, headers)[0]

    assert (status == 503) is faulted


def test_predicate_sees_the_request_body_decoded_from_chunks(proxy: FaultProxy) -> None:
    seen: list[ProxiedRequest] = []
    proxy.rules = [FaultRule(Fault.server_error(), when=lambda request: seen.append(request) or False)]
    conn = connect(proxy.url)
    conn.request("POST", "/echo", body=iter([b"Action=", b"Create"]), encode_chunked=True)
    conn.getresponse().read()
    conn.close()

    assert [(r.method, r.path, r.body) for r in seen] == [("POST", "/echo", b"Action=Create")]


# --- rates and reproducibility -------------------------------------------------------------------------------


def decisions(proxy: FaultProxy, n: int) -> list[bool]:
    conn = connect(proxy.url)
    out = []
    for _ in range(n):
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        out.append(response.status != 200)
    conn.close()
    return out


def test_rate_is_met_within_statistical_bounds(upstream: Upstream) -> None:
    n = 600
    rules = [FaultRule(Fault.server_error(), rate=0.3)]
    with FaultProxy(upstream.url, rules=rules, seed=11) as proxy:
        faulted = sum(decisions(proxy, n))
        counts = proxy.counts

    # Binomial(600, 0.3): mean 180, sd 11.2; +-5 sd fails a correct proxy about once in 3.5 million seeds.
    assert 124 <= faulted <= 236
    assert counts.injected[FaultKind.SERVER_ERROR] == faulted
    assert counts.forwarded == n - faulted == len(upstream.seen)
    assert counts.received == n


def test_same_seed_same_faults_other_seed_other_faults(upstream: Upstream) -> None:
    rules = [FaultRule(Fault.server_error(), rate=0.5)]
    runs = []
    for seed in (5, 5, 6):
        with FaultProxy(upstream.url, rules=rules, seed=seed) as proxy:
            runs.append(decisions(proxy, 40))

    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_counts_can_be_reset_and_rules_replaced(proxy: FaultProxy) -> None:
    proxy.rules = [FaultRule(Fault.server_error(), nth=[1])]
    fetch(proxy.url)
    proxy.reset_counts()
    proxy.rules = [FaultRule(Fault.throttling(), nth=[1])]  # nth counting restarts with new rules

    assert fetch(proxy.url)[0] == 400
    assert proxy.counts.received == 1
    assert proxy.counts.injected == {FaultKind.THROTTLING: 1}


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(lambda: FaultRule(Fault.reset(), rate=1.5), "between 0 and 1", id="rate"),
        pytest.param(lambda: FaultRule(Fault.reset(), nth=[0]), "from 1", id="nth"),
        pytest.param(lambda: Fault.server_error(404), "5xx", id="not-5xx"),
        pytest.param(lambda: Fault.latency(-1), "negative", id="negative-latency"),
        pytest.param(lambda: FaultProxy("ftp://example"), "http", id="upstream-scheme"),
    ],
)
def test_bad_settings_are_refused(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(ValueError, match=message):
        build()


def test_stop_closes_idle_client_connections(upstream: Upstream) -> None:
    proxy = FaultProxy(upstream.url).start()
    conn = connect(proxy.url)
    conn.request("GET", "/")
    conn.getresponse().read()  # the connection stays open (keep-alive)

    proxy.stop()

    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.request("GET", "/")
        conn.getresponse()
    with pytest.raises(RuntimeError, match="not running"):
        _ = proxy.url
