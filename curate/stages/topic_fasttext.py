"""The knowledge topic of a document, by curate's fastText student; optionally drop some topics.

Llama 3 classified web pages into knowledge categories so the mix could down-sample the
over-represented ones. This stage writes ``topic`` (the most probable label of the model; null for
an empty text) and ``topic_score`` (its probability), with ``builtin:topic_fasttext``
(``classifiers/domain/topic.ftz``: the 20 categories of ``classifiers/domain/taxonomy.json``,
distilled from the zero-shot MiniLM teacher). The mixer caps topics by this column.

``drop_topics`` rejects documents whose topic is listed and whose ``topic_score`` is at least
``drop_min_score`` -> ``topic_dropped`` (detail ``topic=shopping_promotional score=0.91``).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from curate.contract import ScoreHistogram
from curate.stages.fasttext_classifier import FastTextClassifier, StudentModelParams


class TopicFastTextParams(StudentModelParams):
    model: str = Field(default="builtin:topic_fasttext", validate_default=True,
                       description="the topic model (.bin/.ftz path or builtin:<name>)")
    drop_topics: list[str] = Field(default=[], description="topics to reject")
    drop_min_score: float = Field(default=0.0, ge=0.0, le=1.0, description="reject a listed topic only from this topic_score")

    @model_validator(mode="after")
    def _known_topics(self):
        labels = self.model_labels()
        unknown = sorted(set(self.drop_topics) - set(labels))
        if unknown:
            raise ValueError(f"drop_topics: {unknown} are not topics of {self.model} (its topics: {sorted(labels)})")
        return self


class TopicFastText(FastTextClassifier):
    name = "topic_fasttext"
    version = "1"
    Params = TopicFastTextParams
    writes = {"topic": pa.string(), "topic_score": pa.float32()}

    @classmethod
    def output_columns(cls, params) -> dict[str, pa.DataType]:
        return dict(cls.writes)

    @classmethod
    def score_histograms(cls, params) -> dict[str, ScoreHistogram]:
        thresholds = (params.drop_min_score,) if params.drop_topics and params.drop_min_score else ()
        return {"topic_score": ScoreHistogram(0.0, 1.0, 40, thresholds=thresholds, label="topic student: P(top topic)")}

    def score_columns(self, probabilities, labels):
        empty = np.isnan(probabilities).any(axis=1)
        best = np.where(empty, 0, np.nan_to_num(probabilities, nan=-1.0).argmax(axis=1))
        scores = probabilities[np.arange(len(best)), best] if len(best) else np.zeros(0)
        return {"topic": pa.array([None if e else labels[b] for e, b in zip(empty, best, strict=True)], type=pa.string()),
                "topic_score": pa.array(scores, type=pa.float32(), mask=empty)}

    def decide(self, probabilities, labels):
        p: TopicFastTextParams = self.params
        reasons, details = [None] * len(probabilities), [None] * len(probabilities)
        if p.drop_topics:
            dropped = {labels.index(t) for t in p.drop_topics}
            for row, scores in enumerate(probabilities):
                if np.isnan(scores).any():
                    continue
                best = int(scores.argmax())
                if best in dropped and scores[best] >= p.drop_min_score:
                    reasons[row], details[row] = "topic_dropped", f"topic={labels[best]} score={scores[best]:.2f}"
        return reasons, details
