"""The OpenStack provider: Octavia load balancers through openstacksdk, with Neutron floating IPs.

``cloudlb_openstack.provider.OpenStackProvider`` is the plugin (entry point ``openstack`` in ``cloudlb.providers``).
The pipeline, module by module: ``config`` (the provider's options) and ``service`` (a Service's annotations) are
parsed once; ``desired`` builds the wanted load balancer; ``observe`` reads the cloud through ``client`` (the one
door to the APIs); ``converge`` and ``floating`` diff the two into ``steps``. ``cloudlb_openstack.fake`` is a fake
Keystone + Octavia + Neutron cloud served over HTTP on loopback, and ``cloudlb_openstack.mock`` starts it for
``cloudlb mock-server openstack``. This module stays import-light: it imports neither openstacksdk nor the fake.
"""
