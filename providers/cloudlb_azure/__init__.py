"""The Azure provider: a Standard Load Balancer per cluster and scheme, through ``azure-mgmt-network``.

Where this sits: a plugin under the ``cloudlb.providers`` entry-point group. ``cloudlb_azure.fake`` is the fake
Azure Resource Manager that the provider's tests and users' CI run against (``cloudlb mock-server azure``), and
``cloudlb_azure.credentials`` the static token credential that only the fake accepts. Nothing here is imported
eagerly: importing ``cloudlb_azure`` pulls in neither the Azure SDK nor the fake.
"""
