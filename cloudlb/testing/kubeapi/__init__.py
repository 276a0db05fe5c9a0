"""A fake Kubernetes API server for controller tests: ``FakeKubeAPI``.

Where this sits: part of ``cloudlb.testing``, shipped for users. cloudlb's controller tests run the official
``kubernetes`` client against it over real HTTP, and users can do the same for their own controllers. It serves
core/v1 Services (with ``/status``), Nodes and Events, events.k8s.io/v1 Events, discovery.k8s.io/v1
EndpointSlices and coordination.k8s.io/v1 Leases: list, watch, get, create, update, patch (merge, strategic,
JSON), delete with finalizers, one global resourceVersion with 409 on conflicts and 410 on compacted history.

It is a plain HTTP server and never imports the ``kubernetes`` client: the core stays SDK-free.

Modules: ``server`` (the public class), ``handler`` (HTTP and routing), ``registry`` (verb semantics), ``store``
(objects, revisions, history), ``watch``, ``patch``, ``selectors``, ``services`` (Service defaulting and
allocation), ``events`` (the two Event APIs), ``resources`` (the kinds served), ``faults``, ``errors``.
"""

from cloudlb.testing.kubeapi.errors import KubeError
from cloudlb.testing.kubeapi.faults import Fault, RequestRecord
from cloudlb.testing.kubeapi.server import FakeKubeAPI

__all__ = ["FakeKubeAPI", "Fault", "KubeError", "RequestRecord"]
