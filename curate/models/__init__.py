"""Model references and loaders shared by the model stages (classifiers, embeddings).

A pipeline names a model by a *reference* (``curate.models.resolve``): a local file or folder, a
Hugging Face hub id, or ``builtin:<name>`` for a model that ships with curate's dependencies or in
``classifiers/``. Stages resolve references on the driver (so a relative path means the same on
every worker) and load them once per actor.
"""
from curate.models.resolve import (
    BUILTIN_MODELS,
    ModelReferenceError,
    model_card_entry,
    resolve_model,
)

__all__ = ["BUILTIN_MODELS", "ModelReferenceError", "model_card_entry", "resolve_model"]
