"""The Azure provider: a Standard Load Balancer per cluster and scheme, through ``azure-mgmt-network``.

Where this sits: a plugin under the ``cloudlb.providers`` entry-point group (``azure =
cloudlb_azure.provider:AzureProvider``). ``provider`` drives a round: ``observe`` reads, ``desired``, ``lb``,
``pips`` and ``nsg`` plan with pure functions, ``lb_write`` and ``nsg`` write under ``If-Match``, and ``arm`` is the
one door to ARM. ``names`` says how cloudlb's parts of a shared balancer are told from others'. ``cloudlb_azure.fake``
is the fake Azure Resource Manager that the tests and users' CI run against (``cloudlb mock-server azure``), and
``cloudlb_azure.credentials`` the static token credential that only the fake accepts. Nothing here is imported
eagerly: importing ``cloudlb_azure`` pulls in neither the Azure SDK nor the fake.
"""
