"""The server's lifecycle: stopping ends open watches instead of hanging, and a restart keeps the state."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client, watch

from cloudlb.testing.kubeapi import FakeKubeAPI
from tests.testing.kubeapi.builders import service, wait_for, watch_in_thread
from tests.testing.kubeapi.conftest import connect


def test_stop_ends_open_watches(tmp_path: Path) -> None:
    api = FakeKubeAPI().start()
    with connect(api, tmp_path) as api_client:
        core = client.CoreV1Api(api_client)
        w = watch.Watch()
        stream = w.stream(core.list_namespaced_service, "default", resource_version="100", timeout_seconds=600)
        thread, events = watch_in_thread(stream, lambda seen: False)
        wait_for(lambda: api.count("watch") == 1, what="the watch to open")
        api.stop()
        thread.join(timeout=30)
        assert not thread.is_alive()
        assert events == []


def test_a_restarted_server_keeps_its_objects(tmp_path: Path) -> None:
    api = FakeKubeAPI()
    with pytest.raises(RuntimeError):
        _ = api.url
    with api:
        api.create(service("web"))
        first_url = api.url
    with api, connect(api, tmp_path) as api_client:
        assert api.url == first_url
        names = [s.metadata.name for s in client.CoreV1Api(api_client).list_namespaced_service("default").items]
        assert names == ["web"]


def test_kubeconfig_goes_where_it_is_told(fake_api: FakeKubeAPI, tmp_path: Path) -> None:
    assert fake_api.kubeconfig(tmp_path) == str(tmp_path / "kubeconfig")
    assert fake_api.kubeconfig(tmp_path / "named.yaml") == str(tmp_path / "named.yaml")
    assert fake_api.url in (tmp_path / "named.yaml").read_text()
