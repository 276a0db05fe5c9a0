"""cloudlb's benchmarks: every speed or memory figure quoted anywhere comes from here (never from timed tests)."""
