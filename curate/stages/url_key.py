"""The key URL dedup groups by, computed early: xxh3-128 of the courlan-normalised URL.

Why a stage of its own: URL dedup is a global step, and everything before the first global step
runs per input file in one checkpointed phase. Computing the key here lets PII scrubbing (which
rewrites URLs that carry an e-mail or a credential) and language ID run in that phase too, before
URL dedup, while URL dedup still groups by the URL as fetched. The key is a hash, so it carries no
PII into the columns that later stages, shuffles and shards see.
"""
from __future__ import annotations

import pyarrow as pa
import xxhash

from curate.contract import StageOutput, StageParams
from curate.stages.base import Stage
from curate.stages.url_dedup import normalize_url


class UrlKeyParams(StageParams):
    pass


class UrlKey(Stage):
    name = "url_key"
    version = "1"
    Params = UrlKeyParams
    writes = {"url_key": pa.string()}

    def process(self, batch: pa.Table) -> StageOutput:
        keys = []
        for url in batch.column("url").to_pylist():
            normalized = normalize_url(url)
            keys.append(None if normalized is None else xxhash.xxh3_128_hexdigest(normalized.encode("utf-8")))
        missing = sum(k is None for k in keys)
        return StageOutput(batch.append_column("url_key", pa.array(keys, pa.string())), counters={"documents_without_url": float(missing)})
