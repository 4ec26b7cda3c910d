"""Exact deduplication on a hash of whitespace-normalised text.

Two documents whose texts are equal after collapsing runs of whitespace are duplicates; the one
with the smallest id survives, the others are rejected as ``exact_duplicate`` with its id.
"""
from __future__ import annotations

import pyarrow as pa
import xxhash

from curate.contract import StageOutput, StageParams
from curate.stages.base import GroupStage, first_of_each_key


def text_fingerprint(text: str | None) -> str:
    """xxh3-128 of the text with whitespace runs collapsed (hex); collisions at 2^-64 scale."""
    return xxhash.xxh3_128_hexdigest(" ".join((text or "").split()).encode("utf-8"))


class ExactDedupParams(StageParams):
    pass


class ExactDedup(GroupStage):
    name = "exact_dedup"
    version = "1"
    Params = ExactDedupParams
    writes = {"text_hash": pa.string()}

    def group_key(self, batch: pa.Table) -> pa.Array:
        return pa.array([text_fingerprint(t) for t in batch.column("text").to_pylist()], pa.string())

    def process(self, partition: pa.Table) -> StageOutput:
        keep, survivor = first_of_each_key(partition, [])
        partition = partition.append_column("text_hash", partition.column("group_key"))
        kept, rejected = self.split_survivors(partition, keep, survivor, "exact_duplicate")
        return StageOutput(kept, rejected, {"distinct_texts": float(sum(keep))})
