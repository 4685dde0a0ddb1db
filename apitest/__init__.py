"""apitest: a controllable, deterministic HTTP fixture for testing API gateways."""

__version__ = "0.1.0"
