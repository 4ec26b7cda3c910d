"""The contract every stage and reader meets, in one module they all import.

* ``StageParams`` — a stage's parameters: typed, frozen, strict about unknown keys;
* ``StageOutput`` — what a stage (or a reader) returns for a batch: kept rows, reject rows,
  named counters, score histograms;
* ``reject_rows`` — the reject rows of dropped documents (identity, stage, reason, detail; never
  text; URLs scrubbed);
* ``ScoreHistogram`` — how the card bins one score column;
* ``Resources`` — what one worker of a stage needs (CPUs, GPUs, memory) and whether it runs on an
  actor pool (a model loaded once per actor) or as tasks.

The ``Stage`` classes (``curate.stages.base``) build on these; readers use them without
importing any stage.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from curate.pii.replace import scrub
from curate.schema import REJECT_SCHEMA, empty_rejects


@dataclass(frozen=True)
class Resources:
    """One worker of a stage: ``actor_pool`` (a model loaded once per actor) or tasks, and the
    CPUs, GPUs and memory (bytes; None: no reservation) Ray reserves for it."""

    actor_pool: bool = False
    cpus: float = 1.0
    gpus: float = 0.0
    memory_bytes: int | None = None


class StageParams(BaseModel):
    """Base for stage parameters: typed, frozen, and strict about unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class StageOutput:
    kept: pa.Table
    rejected: pa.Table = field(default_factory=empty_rejects)
    # Named counters (e.g. "extraction_timeouts"); summed across batches and workers.
    counters: dict[str, float] = field(default_factory=dict)
    # Score column -> counts per bin of its ScoreHistogram, over every scored document (kept and
    # rejected); summed across batches and workers, drawn in the card with the thresholds.
    histograms: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreHistogram:
    """How the card bins one score column: ``bins`` equal bins over [low, high] (values outside
    go to the edge bins), with the thresholds the stage applies drawn as lines."""

    low: float
    high: float
    bins: int = 40
    thresholds: tuple[float, ...] = ()
    label: str = ""

    def counts(self, values) -> list[int]:
        array = np.asarray([v for v in values if v is not None], dtype=np.float64)
        array = array[np.isfinite(array)]
        if not array.size:
            return [0] * self.bins
        clipped = np.clip(array, self.low, self.high)
        counts, _ = np.histogram(clipped, bins=self.bins, range=(self.low, self.high))
        return counts.astype(int).tolist()


def reject_rows(
    documents: pa.Table,
    *,
    stage: str,
    reasons: list[str] | str,
    details: list[str | None] | None = None,
) -> pa.Table:
    """Reject rows for ``documents``: identity columns plus stage/reason/detail, no text."""
    n = documents.num_rows
    if isinstance(reasons, str):
        reasons = [reasons] * n
    if any(r is None for r in reasons):
        raise ValueError(f"stage {stage!r}: every rejected document needs a reason")
    if details is None:
        details = [None] * n

    def column(name: str) -> pa.Array:
        if name in documents.column_names:
            return documents.column(name).cast(pa.string())
        return pa.nulls(n, type=pa.string())

    # A URL can carry PII (credentials, an e-mail in the query string): reject records are read
    # by people and quoted in reports, so they get the rule scrubber whatever stage wrote them.
    urls = pa.array([scrub(u) for u in column("url").to_pylist()], type=pa.string())
    return pa.Table.from_arrays(
        [
            column("id"),
            urls,
            column("source"),
            pa.array([stage] * n, type=pa.string()),
            pa.array(reasons, type=pa.string()),
            pa.array(details, type=pa.string()),
        ],
        schema=REJECT_SCHEMA,
    )
