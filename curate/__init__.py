"""curate: Llama-3-style pretraining data curation on Ray, with an auditable card per run."""

__version__ = "0.1.0"
