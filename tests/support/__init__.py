"""Test-only helpers: the in-memory cloud and provider that prove the core and the conformance suite."""
