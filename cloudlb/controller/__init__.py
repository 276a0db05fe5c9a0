"""The Kubernetes controller (``cloudlb controller``): watch, work queue, leader election, finalizer, status.

Where this sits: the one part of cloudlb that imports the ``kubernetes`` client (the ``kube`` extra); nothing in the
core imports this package. The modules, in the order data flows through them:

- ``kubeclient``: every API request the controller makes, as JSON dicts, and the RBAC it needs (``PERMISSIONS``);
- ``informers`` -> ``cache`` (``records``: slim cached records; ``nodes``: the node-set rules);
- ``queue``: keyed, merging, paced, with per-key backoff;
- ``reconcile``: one Service's finalizer, cloud calls, status and ``events``;
- ``gc``: load balancers whose Service is gone;
- ``manager`` (one term as leader), ``leader`` (the Lease), ``metrics`` (Prometheus and probes), ``runner`` (one
  process), ``command`` (``cloudlb controller``).

This package imports nothing on import, so ``cloudlb controller --help`` works without the ``kube`` extra.
"""
