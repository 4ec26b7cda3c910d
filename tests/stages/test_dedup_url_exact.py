import datetime as dt

import pyarrow as pa
import pytest

from curate.schema import DOCUMENT_SCHEMA, conform
from curate.stages.base import GROUP_KEY
from curate.stages.exact_dedup import ExactDedup, text_fingerprint
from curate.stages.url_dedup import UrlDedup, normalize_url


def _docs(rows):
    table = conform(pa.Table.from_pylist(rows), DOCUMENT_SCHEMA)
    return table


def _run(stage, rows):
    """What the runner does for a global step, on one partition holding every key."""
    batch = _docs(rows)
    keyed = batch.append_column(GROUP_KEY, stage.group_key(batch))
    return stage.process(keyed)


@pytest.mark.parametrize(
    "variant",
    [
        "https://Example.COM:443/a/b",
        "https://example.com/a/b/",
        "https://example.com/a/b#section",
        "https://example.com/a/b?utm_source=news&utm_medium=mail",
        "https://example.com/a/b?fbclid=abc",
    ],
)
def test_url_variants_normalise_together(variant):
    assert normalize_url(variant) == normalize_url("https://example.com/a/b") == "https://example.com/a/b"


def test_distinct_pages_stay_distinct():
    assert normalize_url("https://example.com/a?page=2") != normalize_url("https://example.com/a?page=3")
    assert normalize_url("http://example.com/a") != normalize_url("https://example.com/b")
    assert normalize_url(None) is None and normalize_url("") is None


def t(day):
    return dt.datetime(2024, 1, day, tzinfo=dt.UTC)


def test_newest_fetch_survives_and_ties_go_to_smallest_id():
    out = _run(UrlDedup(), [
        {"id": "a", "url": "https://x.org/p", "fetch_time": t(1), "text": "old"},
        {"id": "b", "url": "https://X.org/p/#top", "fetch_time": t(9), "text": "newest"},
        {"id": "c", "url": "https://x.org/p?utm_campaign=z", "fetch_time": t(5), "text": "middle"},
        {"id": "e", "url": "https://x.org/q", "fetch_time": t(3), "text": "tie"},
        {"id": "d", "url": "https://x.org/q", "fetch_time": t(3), "text": "tie"},
        {"id": "f", "url": None, "fetch_time": None, "text": "no url"},
        {"id": "g", "url": None, "fetch_time": None, "text": "no url either"},
    ])
    assert sorted(out.kept.column("id").to_pylist()) == ["b", "d", "f", "g"]
    rejected = {r["id"]: r for r in out.rejected.to_pylist()}
    assert {k: (v["reason"], v["detail"]) for k, v in rejected.items()} == {
        "a": ("url_duplicate", "survivor=b"), "c": ("url_duplicate", "survivor=b"), "e": ("url_duplicate", "survivor=d")}
    assert set(out.kept.column("url_normalized").to_pylist()) == {"https://x.org/p", "https://x.org/q", None}


def test_exact_duplicates_by_whitespace_normalised_text():
    assert text_fingerprint("a  b\n\nc ") == text_fingerprint("a b c")
    assert text_fingerprint("a b c") != text_fingerprint("a b  d")
    out = _run(ExactDedup(), [
        {"id": "z", "text": "same   words here"},
        {"id": "y", "text": "same words\nhere"},
        {"id": "x", "text": "different words"},
    ])
    assert sorted(out.kept.column("id").to_pylist()) == ["x", "y"]
    assert out.rejected.to_pylist()[0]["detail"] == "survivor=y"
    assert out.kept.num_rows + out.rejected.num_rows == 3
