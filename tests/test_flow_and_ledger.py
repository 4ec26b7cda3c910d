"""Unit tests of the in-flight row format and the ledger arithmetic (no Ray)."""
import json

import pyarrow as pa
import pytest

from curate.card import compute_ledger, input_fingerprint, size_category
from curate.flow import REJECT_STAGE, evolve_schema, flow_schema, rejects_of, split_flow, to_flow
from curate.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA, conform
from curate.stages.base import reject_rows


def _docs(n, start=0):
    return conform(pa.table({"id": [f"d{i}" for i in range(start, start + n)], "text": ["hello world"] * n, "html": [b"<p>x</p>"] * n}), DOCUMENT_SCHEMA)


def test_flow_round_trip_keeps_rejects_textless():
    kept = _docs(3)
    rejected = reject_rows(_docs(2, start=3), stage="s", reasons=["r1", "r2"], details=["a", None])
    flowing = to_flow(kept, rejected, DOCUMENT_SCHEMA)
    assert flowing.schema == flow_schema(DOCUMENT_SCHEMA)
    alive, dead = split_flow(flowing)
    assert alive.column("id").to_pylist() == ["d0", "d1", "d2"]
    assert dead.column("text").null_count == 2 and dead.column("html").null_count == 2
    back = rejects_of(dead)
    assert back.schema == REJECT_SCHEMA
    assert back.column("reason").to_pylist() == ["r1", "r2"]


def test_reject_rows_require_a_reason():
    with pytest.raises(ValueError, match="needs a reason"):
        reject_rows(_docs(1), stage="s", reasons=[None])


def test_evolve_schema_adds_and_drops():
    schema = evolve_schema(DOCUMENT_SCHEMA, {"title": pa.string()}, ("html",))
    assert "html" not in schema.names and schema.field("title").type == pa.string()
    assert flow_schema(schema).names[-3] == REJECT_STAGE


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
    assert "input 6 != kept 5 + rejected 0" in ledger["explanation"]


def test_fingerprint_and_size_category():
    files = [{"source": "b", "bytes": 2, "sha256": "2"}, {"source": "a", "bytes": 1, "sha256": "1"}]
    assert input_fingerprint(files) == input_fingerprint(list(reversed(files)))
    assert input_fingerprint(files) != input_fingerprint(files[:1])
    assert size_category(999) == "n<1K" and size_category(1000) == "1K<n<10K"
