"""Tests of the local provider's data plane, over real sockets on 127.0.0.0/8."""
