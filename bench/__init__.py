"""Benchmarks. Each script prints its figures and can write them into docs/."""
