"""A fake OpenStack cloud (Keystone v3, Octavia v2, Neutron v2.0) served over HTTP on loopback.

It ships with the provider so users' CI can run against it (``cloudlb mock-server openstack``); the provider's
tests use it through openstacksdk. ``FakeOpenStack`` in ``server.py`` is the entry; ``state.py`` holds the data
and the provisioning state machine; one module per service, with Octavia's split by resource.

What tests reach for:

- ``fake.url`` (the auth URL), ``fake.connection_options()``, ``fake.external_network_id``, ``fake.subnet_id``;
- ``fake.requests`` (``RequestRecord(method, path, status)``), ``fake.count(method, path_regex, status)``,
  ``fake.clear_requests()``, ``fake.server_errors`` (tracebacks, empty unless the fake itself broke);
- ``fake.state``: the records (``loadbalancers``, ``listeners``, ``pools``, ``members``, ``healthmonitors``,
  ``networks``, ``subnets``, ``ports``, ``floatingips``) and the hooks ``set_quota``, ``force_error``,
  ``fail_next_operation``, ``complete_all``, ``revoke_tokens``, ``add_project``/``add_user``.
"""

from cloudlb_openstack.fake.server import FakeOpenStack, RequestRecord

__all__ = ["FakeOpenStack", "RequestRecord"]
