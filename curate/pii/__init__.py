"""PII detection and replacement."""
