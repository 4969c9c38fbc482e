"""Test suites written once and run against both a fake (tests/unit) and the real
adapter (tests/integration): a subclass supplies the fixtures."""
