"""Test support shipped for users: the pytest plugin, the fault-injecting proxy and helpers shared by the fakes."""
