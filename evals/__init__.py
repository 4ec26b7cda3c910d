"""Accuracy evaluations against the labelled data in ../shared (used by tests and benchmarks)."""
