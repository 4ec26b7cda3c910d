"""Unit tests of the schema helpers and the ledger arithmetic (no Ray)."""
import json

import pyarrow as pa
import pytest

from curate.card import compute_ledger, input_fingerprint, size_category
from curate.contract import reject_rows
from curate.schema import DOCUMENT_SCHEMA, conform, evolve_schema


def _docs(n, start=0):
    return conform(pa.table({"id": [f"d{i}" for i in range(start, start + n)], "text": ["hello world"] * n, "html": [b"<p>x</p>"] * n}), DOCUMENT_SCHEMA)


def test_reject_rows_require_a_reason():
    with pytest.raises(ValueError, match="needs a reason"):
        reject_rows(_docs(1), stage="s", reasons=[None])


def test_evolve_schema_adds_and_drops():
    schema = evolve_schema(DOCUMENT_SCHEMA, {"title": pa.string()}, ("html",))
    assert "html" not in schema.names and schema.field("title").type == pa.string()


def _snapshot(read, stages):
    return {"stages": {"read": read, **stages}, "files": []}


def _w(rows_in, kept, rejected):
    return {"rows_in": rows_in, "kept": kept, "rejected": rejected, "busy_s": 1.0, "batches": 1, "counters": {}}


def test_ledger_balances_and_chains_stages():
    shards = [
        {"kind": "data", "path": "data/a", "rows": 6, "bytes": 1, "sha256": "x"},
        {"kind": "rejects", "path": "rejects/a", "rows": 4, "bytes": 1, "sha256": "y", "reasons": json.dumps({"read/corrupt_record": 1, "f/too_short": 3})},
    ]
    ledger, stages = compute_ledger(["f"], shards, _snapshot(_w(10, 9, 1), {"f": _w(9, 6, 3)}))
    assert ledger["balanced"], ledger["explanation"]
    assert ledger["equation"] == "10 = 6 + 4"
    assert [(s["stage"], s["documents_in"], s["kept"]) for s in stages] == [("read", 10, 9), ("f", 9, 6)]


def test_ledger_detects_lost_documents_and_disagreeing_workers():
    shards = [{"kind": "data", "path": "data/a", "rows": 5, "bytes": 1, "sha256": "x"}]
    ledger, _ = compute_ledger(["f"], shards, _snapshot(_w(6, 6, 0), {"f": _w(6, 6, 0)}))
    assert not ledger["balanced"]
    assert "the readers emitted 6 documents but the shards hold 5 kept + 0 rejected = 5" in ledger["explanation"]
    assert ledger["equation"] == "6 ≠ 5 + 0"  # wrong totals read as such


def test_ledger_names_the_stage_whose_committed_counts_disagree():
    shards = [
        {"kind": "data", "path": "data/a", "rows": 6, "bytes": 1, "sha256": "x"},
        {"kind": "rejects", "path": "rejects/a", "rows": 4, "bytes": 1, "sha256": "y", "reasons": json.dumps({"f/too_short": 4})},
    ]
    # The totals add up, but stage f's units say they rejected 5: the equation stays "=", the
    # explanation names the stage.
    ledger, _ = compute_ledger(["f"], shards, _snapshot(_w(10, 10, 0), {"f": _w(11, 6, 5)}))
    assert not ledger["balanced"] and ledger["equation"] == "10 = 6 + 4"
    assert "stage f: the shards say in=10 kept=6 rejected=4, its committed units counted in=11 kept=6 rejected=5" in ledger["explanation"]


def test_ledger_checks_the_ids_and_the_units():
    shards = [{"kind": "data", "path": "data/a", "rows": 2, "bytes": 1, "sha256": "x"}]
    ok = {"read": {"documents": 2, "id_sum": "00000000000000ff"}, "written": {"documents": 2, "id_sum": "00000000000000ff"}, "match": True}
    ledger, _ = compute_ledger([], shards, _snapshot(_w(2, 2, 0), {}), {"ids": ok, "unit_problems": []})
    assert ledger["balanced"] and ledger["ids"]["match"]
    bad = dict(ok, written={"documents": 2, "id_sum": "00000000000000fe"}, match=False)
    ledger, _ = compute_ledger([], shards, _snapshot(_w(2, 2, 0), {}), {"ids": bad, "unit_problems": ["01-documents unit 00003 (a.warc): x"]})
    assert not ledger["balanced"]
    assert "a document was lost, duplicated or invented" in ledger["explanation"] and "unit 00003 (a.warc)" in ledger["explanation"]


def test_fingerprint_and_size_category():
    files = [{"source": "b", "bytes": 2, "sha256": "2"}, {"source": "a", "bytes": 1, "sha256": "1"}]
    assert input_fingerprint(files) == input_fingerprint(list(reversed(files)))
    assert input_fingerprint(files) != input_fingerprint(files[:1])
    assert size_category(999) == "n<1K" and size_category(1000) == "1K<n<10K"
