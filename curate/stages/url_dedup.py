"""URL deduplication: keep the most recent fetch of each normalised URL (Llama 3's first dedup level).

Normalisation is courlan's (lower-case scheme and host, default ports dropped, tracking
parameters such as utm_* and fbclid removed, trailing slash dropped) after removing the fragment.
Survivor: the latest ``fetch_time``; ties (or no time) go to the smallest id. The others are
rejected as ``url_duplicate`` with the survivor's id as detail.
"""
from __future__ import annotations

from urllib.parse import urldefrag

import courlan
import pyarrow as pa

from curate.contract import StageOutput, StageParams
from curate.stages.base import GroupStage, first_of_each_key


def normalize_url(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return courlan.normalize_url(urldefrag(url.strip()).url, strict=False, trailing_slash=False) or None
    except (ValueError, TypeError):
        return None


class UrlDedupParams(StageParams):
    # Group by this column (the url_key stage's hash of the URL as fetched) instead of normalising
    # the url column here — for pipelines that scrub PII from URLs before URL dedup.
    key_column: str | None = None


class UrlDedup(GroupStage):
    name = "url_dedup"
    version = "1"
    Params = UrlDedupParams
    writes = {"url_normalized": pa.string()}

    @classmethod
    def reads(cls, params: UrlDedupParams) -> dict[str, str]:
        return {"key_column": params.key_column} if params.key_column else {}

    def group_key(self, batch: pa.Table) -> pa.Array:
        # A document without a usable URL is its own group: it can never be a URL duplicate.
        ids = batch.column("id").to_pylist()
        if self.params.key_column:
            keys = batch.column(self.params.key_column).to_pylist()
        else:
            keys = [normalize_url(u) for u in batch.column("url").to_pylist()]
        return pa.array([k or f"\x00no-url:{i}" for k, i in zip(keys, ids, strict=True)], pa.string())

    def process(self, partition: pa.Table) -> StageOutput:
        keep, survivor = first_of_each_key(partition, [("fetch_time", "descending")])
        # The normalised URL as this stage sees it (scrubbed, when PII scrubbing ran first).
        normalized = [normalize_url(u) for u in partition.column("url").to_pylist()]
        partition = partition.append_column("url_normalized", pa.array(normalized, pa.string()))
        kept, rejected = self.split_survivors(partition, keep, survivor, "url_duplicate")
        return StageOutput(kept, rejected, {"url_groups": float(sum(keep))})
