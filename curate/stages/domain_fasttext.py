"""What a document is made of — code, math, or prose — by curate's fastText student.

Llama 3 ran code and math/reasoning classifiers to route documents to those parts of the mix; this
stage writes ``domain_code``, ``domain_math`` and ``domain_prose`` (probabilities summing to 1; null
for an empty text) with ``builtin:domain_fasttext`` (``classifiers/domain/domain.ftz``, distilled
from the zero-shot MiniLM teacher over ``classifiers/domain/taxonomy.json``; its model card gives the
recall and precision on pages of known kind). It is ``fasttext_classifier`` with these defaults, so
``min_score`` / ``max_score`` keep rules work the same (e.g. ``max_score: {prose: 0.5}`` keeps only
code and math).
"""
from __future__ import annotations

from pydantic import Field

from curate.stages.fasttext_classifier import FastTextClassifier, FastTextClassifierParams


class DomainFastTextParams(FastTextClassifierParams):
    model: str = Field(default="builtin:domain_fasttext", validate_default=True,
                       description="the domain model (.bin/.ftz path or builtin:<name>)")
    prefix: str = Field(default="domain", pattern=r"^[a-z][a-z0-9_]*$", description="score columns are <prefix>_<label>")


class DomainFastText(FastTextClassifier):
    name = "domain_fasttext"
    version = "1"
    Params = DomainFastTextParams
    score_label = "domain student P(label)"
