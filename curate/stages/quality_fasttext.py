"""Score quality with curate's fastText student; optionally keep only documents above a score.

The model (``builtin:quality_fasttext`` = ``classifiers/quality_fasttext/model.ftz``) was trained on
the embedding teacher's judgements (``classifiers/quality_embed``: MiniLM + a logistic head on
DCLM's human labels) of unlabelled pages; its model card gives the AUCs. Any fastText model with
an ``hq`` label works. Column: ``quality_fasttext`` = P(hq) (null for an empty text). With
``min_score`` > 0 a lower score rejects as ``quality_low`` (detail ``quality_fasttext=0.12<0.20``).
Scores are English-trained: on other languages they mean little, which is why the default
pipeline labels rather than filters (the mixer reads the column).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from curate.stages.fasttext_classifier import FastTextClassifier, StudentModelParams, format_beyond

COLUMN = "quality_fasttext"
POSITIVE = "hq"


class QualityFastTextParams(StudentModelParams):
    model: str = Field(default="builtin:quality_fasttext", validate_default=True,
                       description=f"a fastText model with an {POSITIVE!r} label (.bin/.ftz path or builtin:<name>)")
    min_score: float = Field(default=0.0, ge=0.0, le=1.0, description=f"{COLUMN} below this -> quality_low (0: label only)")

    @model_validator(mode="after")
    def _has_positive_label(self):
        labels = self.model_labels()
        if POSITIVE not in labels:
            raise ValueError(f"model {self.model} has no {POSITIVE!r} label (its labels: {list(labels)})")
        return self


class QualityFastText(FastTextClassifier):
    name = "quality_fasttext"
    version = "1"
    Params = QualityFastTextParams
    writes = {COLUMN: pa.float32()}
    score_label = "quality student P(high quality)"
    filter_score = (COLUMN, "quality_low")  # the card's quality-filter section (when min_score > 0)

    @classmethod
    def output_columns(cls, params) -> dict[str, pa.DataType]:
        return dict(cls.writes)

    @classmethod
    def thresholds(cls, params) -> dict[str, tuple[float, ...]]:
        return {COLUMN: (params.min_score,)} if params.min_score else {}

    def score_columns(self, probabilities, labels):
        values = probabilities[:, labels.index(POSITIVE)]
        return {COLUMN: pa.array(values, type=pa.float32(), mask=np.isnan(values))}

    def decide(self, probabilities, labels):
        threshold = self.params.min_score
        reasons, details = [None] * len(probabilities), [None] * len(probabilities)
        if threshold:
            for row, score in enumerate(probabilities[:, labels.index(POSITIVE)]):
                if not np.isnan(score) and score < threshold:
                    reasons[row], details[row] = "quality_low", f"{COLUMN}={format_beyond(float(score), threshold, '<')}"
        return reasons, details
