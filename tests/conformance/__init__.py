"""The conformance suite: one set of behavioural tests run against every provider that has a harness."""
