"""fuzzy_dedup's survivor rules: which document of a cluster stays."""
import datetime as dt

import pyarrow as pa

from curate.schema import DOCUMENT_SCHEMA, conform
from curate.stages.fuzzy_dedup import FuzzyDedup, FuzzyDedupParams


def _batch():
    day = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    table = pa.table({
        "id": ["a", "b", "c", "d"],
        "text": ["x " * 50, "x " * 80, "x " * 60, "x " * 80],
        "fetch_time": pa.array([day, day - dt.timedelta(days=9), day + dt.timedelta(days=3), None], type=pa.timestamp("us", tz="UTC")),
    })
    batch = conform(table, DOCUMENT_SCHEMA)
    return batch.append_column("quality_static", pa.array([0.9, 0.2, None, 0.5], type=pa.float32()))


def _best_first(params):
    keys = FuzzyDedup(params).rank(_batch())
    return [doc for _, doc in sorted(zip(keys, "abcd", strict=True))]


def test_longest_is_the_default_then_the_smallest_id():
    assert _best_first(FuzzyDedupParams()) == ["b", "d", "c", "a"]


def test_newest_fetch_first_and_undated_last():
    assert _best_first(FuzzyDedupParams(survivor="newest")) == ["c", "a", "b", "d"]


def test_quality_first_and_a_null_score_last():
    assert _best_first(FuzzyDedupParams(survivor="quality")) == ["a", "d", "b", "c"]
