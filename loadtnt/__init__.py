"""loadtnt: a fast Tarantool IProto driver and a load-testing harness."""

__version__ = "0.1.0"
