"""load_manifests / load_documents: files, formats, stdin, joining objects across files, and where errors point."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudlb import InvalidSpecError, Protocol, Target, TargetMode, load_manifests, spec_from_manifests
from cloudlb.manifests import load_documents, parse_documents
from tests.kube.builders import endpoint, endpoint_slice, node, port, service

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def write_yaml(path: Path, *docs: Any) -> Path:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def test_multi_document_yaml_one_spec_per_managed_service(tmp_path: Path) -> None:
    cluster_ip = service("internal-only", type="ClusterIP")
    foreign = service("foreign", loadBalancerClass="example.com/other")
    ours = service("ours", loadBalancerClass="cloudlb.io/local")
    path = write_yaml(
        tmp_path / "all.yaml",
        service("web"),
        cluster_ip,
        foreign,
        ours,
        node("n1", "10.0.0.1"),
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}},
    )

    specs = load_manifests([path], cluster="prod")

    assert [(s.cluster, s.namespace, s.name) for s in specs] == [("prod", "demo", "web"), ("prod", "demo", "ours")]
    assert specs[0].targets == frozenset({Target("10.0.0.1", 30080, "n1")})


def test_slices_and_nodes_are_joined_across_files(tmp_path: Path) -> None:
    pod_service = service("api", annotations={"cloudlb.io/target-type": "pod"})
    svc = write_yaml(tmp_path / "svc.yaml", pod_service, service("web"))
    eps = write_yaml(
        tmp_path / "eps.yaml",
        endpoint_slice("api", endpoints=[endpoint("10.8.0.1")]),
        endpoint_slice("api", name="api-2", endpoints=[endpoint("10.8.0.2")]),
        endpoint_slice("api", namespace="other", endpoints=[endpoint("10.8.9.9")]),
        endpoint_slice("web", endpoints=[endpoint("10.8.0.3")]),
    )
    nodes = write_yaml(tmp_path / "nodes.yaml", node("n1", "10.0.0.1"), node("n2", "10.0.0.2"))

    api, web = load_manifests([str(svc), eps, nodes])

    assert api.targets == frozenset({Target("10.8.0.1", 8080), Target("10.8.0.2", 8080)})
    assert web.targets == frozenset({Target("10.0.0.1", 30080, "n1"), Target("10.0.0.2", 30080, "n2")})


def test_json_file_and_concatenated_json_stream(tmp_path: Path) -> None:
    single = tmp_path / "svc.json"
    single.write_text(json.dumps(service("one"), indent=2))
    stream = tmp_path / "stream.json"
    stream.write_text(json.dumps(service("two")) + "\n" + json.dumps(node("n1", "10.0.0.1")))

    specs = load_manifests([single, stream])

    assert [s.name for s in specs] == ["one", "two"]
    assert specs[1].targets == frozenset({Target("10.0.0.1", 30080, "n1")})


def test_kind_list_items_are_documents(tmp_path: Path) -> None:
    listing = {"apiVersion": "v1", "kind": "List", "items": [service("a"), service("b"), node("n1", "10.0.0.1")]}
    path = tmp_path / "list.json"
    path.write_text(json.dumps(listing))

    documents = load_documents([path])
    specs = load_manifests([path])

    assert [d.source for d in documents] == [f"{path}#1/items[0]", f"{path}#1/items[1]", f"{path}#1/items[2]"]
    assert [s.name for s in specs] == ["a", "b"]
    assert all(len(s.targets) == 1 for s in specs)


def test_stdin_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(yaml.safe_dump_all([service("piped"), node("n1", "10.0.0.1")])))

    specs = load_manifests(["-"])

    assert [s.name for s in specs] == ["piped"]


def test_stdin_json_is_sniffed() -> None:
    stdin = io.StringIO("  " + json.dumps(service("piped")))

    documents = load_documents(["-"], stdin=stdin)

    assert [(d.file, d.index, d.source) for d in documents] == [("<stdin>", 1, "<stdin>#1")]


def test_directory_reads_manifest_files_in_name_order(tmp_path: Path) -> None:
    write_yaml(tmp_path / "b.yaml", service("second"))
    write_yaml(tmp_path / "a.yml", service("first"), node("n1", "10.0.0.1"))
    (tmp_path / "README.md").write_text("not a manifest: {{")

    specs = load_manifests([tmp_path])

    assert [s.name for s in specs] == ["first", "second"]


def test_empty_documents_are_skipped_but_counted(tmp_path: Path) -> None:
    path = tmp_path / "gaps.yaml"
    path.write_text("---\n---\n" + yaml.safe_dump(service(ports=[port(port=70000)])))

    with pytest.raises(InvalidSpecError) as caught:
        load_manifests([path])

    assert caught.value.source == f"{path}#2"  # the first ``---`` opened an empty document


def test_a_lone_path_is_not_read_letter_by_letter(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "svc.yaml", service("web"), node("n1", "10.0.0.1"))

    assert [d.source for d in load_documents(str(path))] == [f"{path}#1", f"{path}#2"]


def bad_port_in_second_doc(tmp_path: Path) -> tuple[Path, str]:
    path = write_yaml(tmp_path / "svc.yaml", service("ok"), service("bad", ports=[port(), port(name="x", port=70000)]))
    return path, f"{path}#2"


def bad_port_in_list_item(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "list.yaml"
    path.write_text(yaml.safe_dump({"kind": "List", "items": [service("ok"), service("bad", ports=[port(port=0)])]}))
    return path, f"{path}#1/items[1]"


@pytest.mark.parametrize(
    ("make", "path", "message"),
    [
        pytest.param(bad_port_in_second_doc, "spec.ports[1].port", "70000 is not a port", id="second-document"),
        pytest.param(bad_port_in_list_item, "spec.ports[0].port", "0 is not a port", id="list-item"),
    ],
)
def test_service_errors_carry_file_and_document(tmp_path: Path, make: Any, path: str, message: str) -> None:
    file, source = make(tmp_path)

    with pytest.raises(InvalidSpecError) as caught:
        load_manifests([file, write_yaml(tmp_path / "nodes.yaml", node("n1", "10.0.0.1"))])

    assert (caught.value.source, caught.value.path) == (source, path)
    assert message in caught.value.message
    assert str(caught.value).startswith(f"{source}: {path}: ")


@pytest.mark.parametrize(
    ("text", "name", "source", "message"),
    [
        pytest.param(
            "kind: Service\n---\nkind: [unclosed\n", "svc.yaml", "svc.yaml#2", "invalid YAML", id="yaml-syntax"
        ),
        pytest.param("a: b\n  c: d\n", "svc.yaml", "svc.yaml#1", "at line 2, column", id="yaml-syntax-position"),
        pytest.param('{"kind": "Service",}', "svc.json", "svc.json#1", "invalid JSON", id="json-syntax"),
        pytest.param(
            "- a\n- b\n", "svc.yaml", "svc.yaml#1", "a manifest must be a mapping, not a list", id="yaml-list"
        ),
        pytest.param("kind: Service\n---\nhello\n", "svc.yaml", "svc.yaml#2", 'not "hello"', id="yaml-scalar"),
        pytest.param("kind: List\nitems: [1]\n", "l.yaml", "l.yaml#1/items[0]", "not 1", id="list-item-scalar"),
        pytest.param("kind: List\nitems: {}\n", "l.yaml", "l.yaml#1", "must be a list", id="list-items-mapping"),
    ],
)
def test_unparseable_documents(text: str, name: str, source: str, message: str) -> None:
    with pytest.raises(InvalidSpecError) as caught:
        parse_documents(text, name)

    assert caught.value.source == source
    assert message in caught.value.message


def test_missing_file_is_invalid_input(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    with pytest.raises(InvalidSpecError) as caught:
        load_manifests([missing])

    assert caught.value.source == str(missing)
    assert "cannot read the file" in caught.value.message


def test_manifest_without_kind(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "x.yaml", service("web"), {"metadata": {"name": "x"}})

    with pytest.raises(InvalidSpecError) as caught:
        load_manifests([path])

    assert (caught.value.source, caught.value.path) == (f"{path}#2", "kind")


def test_slice_and_node_errors_point_at_their_own_document(tmp_path: Path) -> None:
    svc = write_yaml(tmp_path / "svc.yaml", service("api", annotations={"cloudlb.io/target-type": "pod"}))
    eps = write_yaml(tmp_path / "eps.yaml", endpoint_slice("api", endpoints=[endpoint("10.0.0.1"), endpoint("x")]))
    nodes = write_yaml(tmp_path / "nodes.yaml", node("n1", "10.0.0.1"), node("n2", "nonsense"))

    with pytest.raises(InvalidSpecError) as slice_error:
        load_manifests([svc, eps])
    with pytest.raises(InvalidSpecError) as node_error:
        load_manifests([write_yaml(tmp_path / "web.yaml", service("web")), nodes])

    assert (slice_error.value.source, slice_error.value.path) == (f"{eps}#1", "endpoints[1].addresses[0]")
    assert (node_error.value.source, node_error.value.path) == (f"{nodes}#2", "status.addresses[0].address")


def test_same_service_twice_is_an_error(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "dup.yaml", service("web"), node("n1", "10.0.0.1"), service("web"))

    with pytest.raises(InvalidSpecError) as caught:
        load_manifests([path])

    assert (caught.value.source, caught.value.path) == (f"{path}#3", "metadata.name")
    assert f"also defined in {path}#1" in caught.value.message


def test_malformed_skipped_looking_service_is_still_an_error(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path / "x.yaml", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": 3}
    )

    with pytest.raises(InvalidSpecError) as caught:
        load_manifests([path])

    assert (caught.value.source, caught.value.path) == (f"{path}#1", "spec")


def test_example_web() -> None:
    (spec,) = load_manifests([EXAMPLES / "web.yaml"])

    assert [(li.name, li.protocol, li.port, li.node_port) for li in spec.listeners] == [
        ("http", Protocol.TCP, 8080, 30080),
        ("https", Protocol.TCP, 8443, 30443),
    ]
    assert {t.ip for t in spec.listeners[0].targets} == {"127.0.0.11", "127.0.0.12", "127.0.0.13"}


def test_example_web_in_pod_mode_uses_the_three_ready_pods() -> None:
    documents = load_documents([EXAMPLES / "web.yaml"])
    svc = documents[0].body
    pod_mode = {**svc, "metadata": {**svc["metadata"], "annotations": {"cloudlb.io/target-type": "pod"}}}
    slices = [d.body for d in documents if d.kind == "EndpointSlice"]

    spec = spec_from_manifests(pod_mode, slices)

    assert spec.target_mode is TargetMode.POD
    assert {t.ip for t in spec.listeners[0].targets} == {"127.0.0.21", "127.0.0.22", "127.0.0.23"}


@pytest.mark.parametrize(
    ("name", "targets"),
    [
        pytest.param("udp.yaml", {("127.0.0.11", 30053), ("127.0.0.12", 30053)}, id="udp-skips-autoscaled-node"),
        pytest.param("etp-local.yaml", {("127.0.0.11", 30081), ("127.0.0.12", 30081)}, id="etp-local"),
    ],
)
def test_examples_load(name: str, targets: set[tuple[str, int]]) -> None:
    (spec,) = load_manifests([EXAMPLES / name])

    assert {(t.ip, t.port) for t in spec.targets} == targets


def test_example_bad_reports_the_port() -> None:
    with pytest.raises(InvalidSpecError) as caught:
        load_manifests([EXAMPLES / "bad.yaml"])

    assert str(caught.value) == f"{EXAMPLES / 'bad.yaml'}#1: spec.ports[1].port: 70000 is not a port (1..65535)"


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        pytest.param("[" * 100_000 + "]" * 100_000, "deep.json", "invalid JSON: nested too deeply", id="json"),
        pytest.param(
            "[" * 100_000 + "]" * 100_000, "deep.yaml", "invalid YAML: exceeded maximum nesting depth", id="yaml"
        ),
    ],
)
def test_deeply_nested_input_is_invalid_not_a_crash(text: str, name: str, message: str) -> None:
    with pytest.raises(InvalidSpecError) as caught:
        parse_documents(text, name)

    assert caught.value.source == f"{name}#1"
    assert caught.value.message.startswith(message)
