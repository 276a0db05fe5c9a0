"""cloudlb's test suite. A package so that shared helpers import as ``tests.support`` and ``tests.conformance``."""
