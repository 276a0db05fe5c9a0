"""The OpenStack provider: Octavia load balancers through openstacksdk, with Neutron floating IPs.

``cloudlb_openstack.fake`` is a fake Keystone + Octavia + Neutron cloud served over HTTP on loopback, and
``cloudlb_openstack.mock`` starts it for ``cloudlb mock-server openstack``. This module stays import-light: it
imports neither openstacksdk nor the fake.
"""
