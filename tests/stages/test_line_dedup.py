"""Line-level dedup, stage level: line keys (normalisation, buckets, languages) and what apply does."""
import pyarrow as pa
import pytest
from pydantic import ValidationError

from curate.dedup.lines import bucket_of, line_keys, line_salt, normalise_line
from curate.schema import DOCUMENT_SCHEMA, conform
from curate.stages.line_dedup import LineDedup, LineDedupParams


def _stage(**params):
    stage = LineDedup(LineDedupParams(**params))
    stage.ensure_setup()
    stage.plan(10)
    return stage


def _docs(rows, lang=None):
    table = conform(pa.Table.from_pylist(rows), DOCUMENT_SCHEMA)
    if lang is not None:
        table = table.append_column("lang", pa.array(lang, pa.string()))
    return table


def test_normalisation_whitespace_and_ccnet():
    assert normalise_line("  Read   more\t") == "Read more"
    assert normalise_line("© 2023 Exámple Inc.", "ccnet") == normalise_line("© 2024 Example, Inc", "ccnet") == "© 0000 example inc"
    assert normalise_line("© 2023 Example Inc.") != normalise_line("© 2024 Example Inc.")
    with pytest.raises(ValueError, match="unknown line normalisation"):
        normalise_line("x", "nfkc")


def test_keys_are_per_line_and_skip_short_lines():
    keys = line_keys("Read more\n\n  Read  more \n}", line_salt(0, "en"), min_line_chars=2)
    assert keys[0] == keys[2] and keys[0] is not None
    assert keys[1] is None and keys[3] is None  # blank line and a lone brace are never counted
    # Buckets and languages never share a line key.
    assert line_keys("Read more", line_salt(0, "en")) != line_keys("Read more", line_salt(1, "en"))
    assert line_keys("Read more", line_salt(0, "en")) != line_keys("Read more", line_salt(0, "de"))


def test_buckets_follow_the_document_count_and_a_stable_hash():
    stage = _stage(bucket_documents=100)
    assert stage.plan(1) == {"buckets": 1.0}
    assert stage.plan(250) == {"buckets": 3.0}
    assert {bucket_of(f"doc{i}", 3) for i in range(200)} == {0, 1, 2}
    assert bucket_of("doc7", 3) == bucket_of("doc7", 3)


def test_document_keys_are_distinct_and_language_aware():
    stage = _stage()
    docs = _docs([{"id": "a", "text": "Share this\nShare this\nbody"}, {"id": "b", "text": "Share this"}], lang=["en", "fr"])
    keys_a, keys_b = stage.document_keys(docs)
    assert len(keys_a) == 2 and keys_a == sorted(keys_a)
    assert not set(keys_a) & set(keys_b)  # same line, other language: another key


def test_apply_removes_frequent_lines_everywhere_and_rejects_emptied_documents():
    stage = _stage(min_words=3)
    docs = _docs([
        {"id": "a", "text": "Subscribe now\nThe river rose by two metres overnight.\nSubscribe now"},
        {"id": "b", "text": "Subscribe now\nok"},
        {"id": "c", "text": "Nothing frequent here at all."},
    ])
    keys_b = set(stage.document_keys(docs.slice(1, 1))[0])
    subscribe = next(k for k in keys_b if k in set(stage.document_keys(docs.slice(0, 1))[0]))
    out = stage.apply(docs, [{subscribe}, {subscribe}, set()])
    kept = {r["id"]: r for r in out.kept.to_pylist()}
    assert kept["a"]["text"] == "The river rose by two metres overnight." and kept["a"]["lines_removed"] == 2
    assert kept["c"]["text"] == "Nothing frequent here at all." and kept["c"]["lines_removed"] == 0
    (rejected,) = out.rejected.to_pylist()
    assert rejected["id"] == "b" and rejected["reason"] == "line_dedup_emptied" and rejected["stage"] == "line_dedup"
    assert rejected["detail"] == "lines_removed=1 words_left=1"
    assert out.counters == {"lines_in": 6.0, "lines_removed": 3.0, "documents_with_lines_removed": 2.0}


@pytest.mark.parametrize("bad", [{"max_occurrences": 0}, {"bucket_documents": 0}, {"normalization": "nfkc"}, {"max_occurence": 6}])
def test_bad_parameters_are_refused(bad):
    with pytest.raises(ValidationError):
        LineDedupParams(**bad)
