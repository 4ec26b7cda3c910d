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

from curate.stages.base import GroupStage, StageOutput, StageParams, first_of_each_key


def normalize_url(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return courlan.normalize_url(urldefrag(url.strip()).url, strict=False, trailing_slash=False) or None
    except (ValueError, TypeError):
        return None


class UrlDedupParams(StageParams):
    pass


class UrlDedup(GroupStage):
    name = "url_dedup"
    version = "1"
    Params = UrlDedupParams
    writes = {"url_normalized": pa.string()}

    def group_key(self, batch: pa.Table) -> pa.Array:
        # A document without a usable URL is its own group: it can never be a URL duplicate.
        urls = batch.column("url").to_pylist()
        ids = batch.column("id").to_pylist()
        return pa.array([normalize_url(u) or f"\x00no-url:{i}" for u, i in zip(urls, ids)], pa.string())

    def process(self, partition: pa.Table) -> StageOutput:
        keep, survivor = first_of_each_key(partition, [("fetch_time", "descending")])
        normalized = [None if k.startswith("\x00") else k for k in partition.column("group_key").to_pylist()]
        partition = partition.append_column("url_normalized", pa.array(normalized, pa.string()))
        kept, rejected = self.split_survivors(partition, keep, survivor, "url_duplicate")
        return StageOutput(kept, rejected, {"url_groups": float(sum(keep))})
