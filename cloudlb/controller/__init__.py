"""The Kubernetes controller (issue 7): watch, work queue, leader election, finalizer, status."""
