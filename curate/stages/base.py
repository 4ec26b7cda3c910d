"""Stages: the base classes (the contract's data types are in ``curate.contract``).

A stage is one class in one module under ``curate/stages/``. It declares:

* ``name`` — the key used in pipeline YAML, ``version`` — bumped when its output changes;
* ``Params`` — a pydantic model; unknown keys and bad values fail before any work starts;
* ``writes`` — the columns it adds (name -> Arrow type), ``drops`` — columns it removes;
* ``uses_model`` — True for stages that load a model once per worker (run on an actor pool);
* ``num_cpus`` / ``num_gpus`` — resources per worker (``placement(params)`` returns them as a
  ``Resources``; a stage whose needs depend on its parameters overrides it).

and implements ``process(batch) -> StageOutput``: the kept rows (with the new columns) and
reject rows (``REJECT_SCHEMA``: id, url, source, stage, reason, detail — never text), plus
named counters. Stages never import ray: the runner decides where they run.
"""
from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from curate.contract import Resources, ScoreHistogram, StageOutput, StageParams, reject_rows
from curate.schema import empty_rejects


class Stage:
    name: ClassVar[str]
    version: ClassVar[str] = "1"
    Params: ClassVar[type[StageParams]] = StageParams
    writes: ClassVar[dict[str, pa.DataType]] = {}
    drops: ClassVar[tuple[str, ...]] = ()
    uses_model: ClassVar[bool] = False
    num_cpus: ClassVar[float] = 1.0
    num_gpus: ClassVar[float] = 0.0

    def __init__(self, params: StageParams | None = None):
        self.params = params if params is not None else self.Params()
        self._ready = False

    @classmethod
    def placement(cls, params: StageParams) -> Resources:
        """What one worker needs, for these parameters. Most stages decide by class; one whose
        model is optional (a NER model in PII scrubbing) by params."""
        return Resources(cls.uses_model, cls.num_cpus, cls.num_gpus)

    @classmethod
    def output_columns(cls, params: StageParams) -> dict[str, pa.DataType]:
        """The columns these parameters make the stage add (``writes``, unless a stage's columns
        depend on its parameters, e.g. one score column per label of a user's classifier)."""
        return dict(cls.writes)

    @classmethod
    def reads(cls, params: StageParams) -> dict[str, str]:
        """Columns these parameters make the stage read that an earlier stage must write
        (parameter name -> column); checked when the pipeline is parsed.

        By default: a ``language_column`` set to anything but ``lang``. The default column is
        optional (without language ID the stages judge every document in their default language);
        a column named on purpose that nobody writes is a typo that would switch that off unseen.
        """
        column = getattr(params, "language_column", None)
        return {"language_column": column} if column and column != "lang" else {}

    @classmethod
    def score_histograms(cls, params: StageParams) -> dict[str, ScoreHistogram]:
        """Score columns the card draws a histogram of (with these parameters' thresholds)."""
        return {}

    def histogram_counts(self, batch: pa.Table) -> dict[str, list[int]]:
        """Counts per bin of every declared score column of ``batch`` (call before splitting, so
        rejected documents are counted too)."""
        return {
            column: spec.counts(batch.column(column).to_pylist())
            for column, spec in self.score_histograms(self.params).items()
            if column in batch.column_names
        }

    @classmethod
    def models(cls, params: StageParams) -> list[dict]:
        """The models these parameters make the stage load ({"role", "model"}), for the card."""
        return []

    def setup(self) -> None:
        """Load models or other per-worker state. Called once per worker before process()."""

    def ensure_setup(self) -> None:
        if not self._ready:
            self.setup()
            self._ready = True

    def process(self, batch: pa.Table) -> StageOutput:  # pragma: no cover - interface
        raise NotImplementedError

    # Helpers shared by stages -------------------------------------------------------

    @classmethod
    def provenance(cls, params: StageParams) -> dict:
        """What the card records about this stage: name, version, resolved parameters."""
        return {"stage": cls.name, "version": cls.version, "params": params.model_dump(mode="json")}

    def split(
        self,
        batch: pa.Table,
        keep_mask: pa.Array | list[bool],
        reasons: list[str | None],
        details: list[str | None] | None = None,
    ) -> tuple[pa.Table, pa.Table]:
        """Split ``batch`` by ``keep_mask`` into kept rows and reject rows for this stage.

        ``reasons[i]`` (and ``details[i]``) must be set for every row where keep_mask is False.
        """
        mask = pa.array(keep_mask, type=pa.bool_())
        kept = batch.filter(mask)
        dropped_idx = [i for i, keep in enumerate(mask.to_pylist()) if not keep]
        if not dropped_idx:
            return kept, empty_rejects()
        dropped = batch.take(pa.array(dropped_idx, type=pa.int64()))
        return kept, reject_rows(
            dropped,
            stage=self.name,
            reasons=[reasons[i] for i in dropped_idx],
            details=[details[i] for i in dropped_idx] if details is not None else None,
        )


def text_lengths(batch: pa.Table, column: str = "text") -> pa.Array:
    """Character length of each text (0 for null)."""
    return pc.fill_null(pc.utf8_length(batch.column(column)), 0)


GROUP_KEY = "group_key"


class GroupStage(Stage):
    """A global step: every document with the same key, across the whole corpus, is decided together.

    The stage says how to key a document (``group_key``); the runner shuffles documents so that all
    rows of a key land in one partition (one Ray Data groupby over a hash of the key), and calls
    ``process`` on each partition with a ``group_key`` column. A partition holds many keys, each
    complete, so ``process`` can decide key by key without seeing the rest of the corpus.
    """

    def group_key(self, batch: pa.Table) -> pa.Array:  # pragma: no cover - interface
        raise NotImplementedError

    def split_survivors(self, partition: pa.Table, keep: list[bool], survivor: list[str], reason: str) -> tuple[pa.Table, pa.Table]:
        """Kept survivors, and the other rows rejected with ``reason`` and ``survivor=<id>``."""
        reasons = [None if k else reason for k in keep]
        details = [None if k else f"survivor={s}" for k, s in zip(keep, survivor, strict=True)]
        return self.split(partition, keep, reasons, details)


def first_of_each_key(partition: pa.Table, order: list[tuple[str, str]]) -> tuple[list[bool], list[str]]:
    """For a partition with a ``group_key`` column: which row survives in each key, by ``order``.

    ``order`` are (column, "ascending"|"descending") sort keys after the group key; the first row of
    each key wins. Returns (keep mask, survivor id per row), in the partition's original row order.
    """
    sort_keys = [(GROUP_KEY, "ascending"), *order, ("id", "ascending")]
    indices = pc.sort_indices(partition, sort_keys=sort_keys).to_pylist()
    keys = partition.column(GROUP_KEY).to_pylist()
    ids = partition.column("id").to_pylist()
    keep = [False] * partition.num_rows
    survivor = [""] * partition.num_rows
    previous_key, current = object(), ""
    for i in indices:
        if keys[i] != previous_key:
            previous_key, current = keys[i], ids[i]
            keep[i] = True
        survivor[i] = current
    return keep, survivor


class ClusterStage(Stage):
    """A global step that links similar documents and keeps one per connected component.

    The stage says, per batch, which bucket keys each document falls in (``link_keys``), what to
    carry for checking a candidate pair (``payload``), whether a pair really matches (``verify``),
    and a rank (``rank``: lower wins) for choosing the survivor. The runner groups documents by
    bucket key (a shuffle), verifies pairs inside each bucket, checks the pairs ``verify`` left
    undecided against both documents' ``exact_payload`` (two shuffles by id), streams the edges to
    a union-find actor, and rejects every document that is not its component's survivor.
    """

    reason: str = "cluster_duplicate"

    def link_keys(self, batch: pa.Table) -> list[list[int]]:  # pragma: no cover - interface
        raise NotImplementedError

    def payload(self, batch: pa.Table) -> list[bytes]:  # pragma: no cover - interface
        raise NotImplementedError

    def verify(self, a: bytes, b: bytes) -> bool | None:  # pragma: no cover - interface
        """Whether a candidate pair matches, from two payloads; None when the payloads cannot
        tell (the runner then compares ``exact_payload``s with ``verify_exact``)."""
        raise NotImplementedError

    def exact_payload(self, batch: pa.Table) -> list[bytes]:  # pragma: no cover - interface
        """What ``verify_exact`` needs per document; only asked for when ``verify`` can return None."""
        raise NotImplementedError

    def verify_exact(self, a: bytes, b: bytes) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def rank(self, batch: pa.Table) -> list[tuple]:  # pragma: no cover - interface
        raise NotImplementedError

    def process(self, batch: pa.Table) -> StageOutput:  # pragma: no cover - the runner decides
        raise TypeError(f"{self.name} is a cluster stage: the runner links and resolves it")


class KeyCountStage(Stage):
    """A global step that counts, across the whole corpus, how many documents contain each key,
    and lets every document act on its keys that are too common (line-level dedup).

    The stage says which distinct keys each document contains (``document_keys``, unsigned 64-bit
    ints) and how many documents a key may appear in before it is *frequent* (``max_documents``);
    ``plan`` receives the number of live documents before any key is made (to size buckets).
    The runner emits one row per (document, key), shuffles them by key, counts documents per key,
    sends each (document, frequent key) pair back to its document by a second shuffle on the id,
    and calls ``apply(documents, frequent keys per document)`` — which must account for every row.
    No process ever holds the counts of the whole corpus.
    """

    # How many of the most common frequent keys the card lists (hash and count, never text).
    report_top: ClassVar[int] = 20

    def plan(self, documents: int) -> dict[str, float]:
        """Called in every worker, before ``document_keys``/``apply``, with the live document count.
        Returns counters the card records once (not summed per worker)."""
        return {}

    @property
    def max_documents(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def document_keys(self, batch: pa.Table) -> list[list[int]]:  # pragma: no cover - interface
        raise NotImplementedError

    def apply(self, batch: pa.Table, frequent: list[set[int]]) -> StageOutput:  # pragma: no cover - interface
        raise NotImplementedError

    def process(self, batch: pa.Table) -> StageOutput:  # pragma: no cover - the runner decides
        raise TypeError(f"{self.name} is a key-count stage: the runner counts and applies it")
