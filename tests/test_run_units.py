"""The pass engine's pieces without Ray: work store, part files, records, resume checks, OUT rules."""
from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pytest

from curate.config import parse_pipeline
from curate.hashing import IdDigest
from curate.run import out as out_mod
from curate.run.parts import PartWriter, bucket_slices, read_bucket, read_part, row_slices
from curate.run.pipeline import ResumeRefused, plan_segments, resumable_state, start_attempt
from curate.run.units import PassSpec, Unit, committed_records, inputs_digest
from curate.run.work import WorkStore, open_store


def _remote_style(root) -> WorkStore:
    """A store that takes the code path of an object store (no renames, no memory maps) on a
    local folder: what a run with --work s3://... does."""
    store = WorkStore(str(root))
    store.local = False
    return store


@pytest.mark.parametrize("remote", [False, True])
def test_bucketed_parts_round_trip(tmp_path, remote):
    store = _remote_style(tmp_path) if remote else open_store(str(tmp_path))
    schema = pa.schema([("id", pa.string()), ("n", pa.int64())])
    writer = PartWriter(store, "p/parts/00000.docs", schema, lambda t: (t.column("n").to_numpy() % 3).astype(np.int64), flush_bytes=64)
    for start in range(0, 3000, 700):
        n = np.arange(start, min(start + 700, 3000))
        writer.add(pa.table({"id": [f"d{i}" for i in n], "n": n}, schema=schema))
    entry = writer.close()
    assert entry["rows"] == 3000 and len(entry["sha256"]) == 64 and store.size(entry["path"]) == entry["bytes"]
    for b in range(3):
        part = read_part(store, entry, b)
        assert part.num_rows == 1000 and set((part.column("n").to_numpy() % 3).tolist()) == {b}
        # Rows of a bucket keep their order.
        assert part.column("n").to_pylist() == sorted(part.column("n").to_pylist())
    assert read_part(store, entry, 7) is None
    slices = bucket_slices([entry], 1)
    assert read_bucket(store, slices, 1, schema).num_rows == 1000
    pieces = row_slices(entry, 1000)
    assert sum(p["rows"] for p in pieces) == 3000 and all(p["rows"] >= 500 for p in pieces)
    assert sorted(read_bucket(store, pieces, 0, schema).column("n").to_pylist()) == list(range(3000))
    store.write_json("p/records/00000.json", {"outputs": {"docs": entry}})
    assert store.read_json("p/records/00000.json")["outputs"]["docs"]["sha256"] == entry["sha256"]
    assert store.listdir("p") == ["parts", "records"]
    store.remove("p")
    assert store.listdir("p") == [] and store.read_json("p/records/00000.json") is None


def test_an_empty_part_writes_no_file(tmp_path):
    store = open_store(str(tmp_path))
    entry = PartWriter(store, "x/parts/1", pa.schema([("id", pa.string())])).close()
    assert entry["path"] is None and entry["rows"] == 0 and store.listdir("x") == []


def test_a_record_is_reused_only_with_its_files_and_the_same_inputs(tmp_path):
    store = open_store(str(tmp_path))
    spec = PassSpec()
    spec.name = "01-documents"
    schema = pa.schema([("id", pa.string())])
    writer = PartWriter(store, "01-documents/parts/00000", schema)
    writer.add(pa.table({"id": ["a", "b"]}))
    entry = writer.close()
    unit = Unit("00000", "a.warc", {"uri": "/data/a.warc"})
    store.write_json(spec.record_path("00000"), {"outputs": {"docs": entry}, "inputs_sha256": inputs_digest(unit)})
    assert set(committed_records(store, spec, [unit])) == {"00000"}
    # Other inputs under the same key (another plan): not reused.
    assert committed_records(store, spec, [Unit("00000", "a.warc", {"uri": "/data/b.warc"})]) == {}
    # A torn file (the record names more bytes than are there): not reused.
    path = tmp_path / entry["path"]
    path.write_bytes(path.read_bytes()[:-10])
    assert committed_records(store, spec, [unit]) == {}
    # A torn record is no record.
    (tmp_path / spec.record_path("00000")).write_text('{"outputs": ')
    assert committed_records(store, spec, [unit]) == {}


def test_id_digest_tells_lost_duplicated_and_foreign_ids():
    ids = [f"doc-{i}" for i in range(1000)]
    whole = IdDigest()
    whole.add(ids)
    parts = IdDigest()
    for chunk in (ids[:300], ids[300:]):
        d = IdDigest()
        d.add(reversed(chunk))
        parts.merge(d)
    assert parts == whole and IdDigest.from_json(whole.to_json()) == whole
    for changed in (ids[:-1], ids + ids[:1], ids[:-1] + ["other"]):
        d = IdDigest()
        d.add(changed)
        assert d != whole


def _config(**output):
    return parse_pipeline({"name": "t", "stages": [{"stage": "length_filter"}, {"stage": "exact_dedup"}, {"stage": "length_filter", "params": {"min_words": 3}}],
                           "output": output}, origin="<t>")


def test_resume_refuses_a_changed_pipeline_or_input_naming_it(tmp_path):
    store = open_store(str(tmp_path))
    listing = [{"source": "a.warc", "size": 10, "modified": 1}, {"source": "b.warc", "size": 20, "modified": 2}]
    start_attempt(store, None, _config(), "/c", listing, {"num_shards": 1, "partitions": 4}, "run-1")
    state = resumable_state(store, _config(), "/c", listing, fresh=False)
    assert state["run_id"] == "run-1" and len(state["attempts"]) == 1
    with pytest.raises(ResumeRefused, match=r"output.shard_input_mib: 64.0 → 32.0"):
        resumable_state(store, _config(shard_input_mib=32), "/c", listing, fresh=False)
    changed = [listing[0], {"source": "b.warc", "size": 21, "modified": 3}, {"source": "c.warc", "size": 1, "modified": 1}]
    with pytest.raises(ResumeRefused, match=r"1 added \(c.warc\); 1 changed \(b.warc\)"):
        resumable_state(store, _config(), "/c", changed, fresh=False)
    assert resumable_state(store, _config(shard_input_mib=32), "/c", listing, fresh=True) is None
    assert store.read_json("run.json") is None  # --fresh removed the unfinished run


def test_phases_of_the_shipped_pipeline():
    from curate.config import load_pipeline
    from tests.conftest import REPO

    config = load_pipeline(REPO / "pipelines" / "llama3.yaml")
    kinds = [(s.kind, [config.stages[i].cls.name for i in s.indices]) for s in plan_segments(config)]
    assert kinds[0] == ("map", ["url_filter", "extract_html", "length_filter", "decontaminate", "url_key", "pii_scrub", "lang_id"])
    assert [k for k, _ in kinds[1:5]] == ["group", "group", "cluster", "key_count"]
    assert kinds[5][0] == "map" and kinds[5][1][0] == "gopher_repetition" and kinds[5][1][-1] == "embed_classifier"


def test_out_rules(tmp_path):
    out = tmp_path / "out"
    out_mod.preflight(out, str(out / ".work" / "run"), 0, force=False)  # a new OUT is fine
    (out / "mine.txt").write_text("x")
    with pytest.raises(out_mod.OutError, match=r"holds files curate did not write \(mine.txt\)"):
        out_mod.preflight(out, str(out / ".work" / "run"), 0, force=False)
    out_mod.preflight(out, str(out / ".work" / "run"), 0, force=True)
    with pytest.raises(out_mod.OutError, match="not enough room"):
        out_mod.preflight(out, str(out / ".work" / "run"), 2**62, force=True)
    # A commit replaces the previous run's files, keeps the user's, and records what it owns.
    (out / "data").mkdir()
    (out / "data" / "part-00000-of-00002.parquet").write_text("old 0")
    (out / "data" / "part-00001-of-00002.parquet").write_text("old 1")
    (out / out_mod.OWNED_MANIFEST).write_text(json.dumps({"files": ["data/part-00000-of-00002.parquet", "data/part-00001-of-00002.parquet"]}))
    staging = out / ".work" / "final"
    (staging / "data").mkdir(parents=True)
    (staging / "data" / "part-00000-of-00001.parquet").write_text("new")
    (staging / "card.json").write_text("{}")
    out_mod.commit(out, staging, out / ".work", "run-2")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and ".work" not in p.parts) == [
        ".curate-out.json", "card.json", "data/part-00000-of-00001.parquet", "mine.txt"]
    assert out_mod.foreign_entries(out) == ["mine.txt"]
    assert not (out / ".work" / "commit.json").exists()


def test_an_interrupted_commit_rolls_forward(tmp_path):
    out = tmp_path / "out"
    control = out / ".work"
    staging = control / "final"
    (staging / "data").mkdir(parents=True)
    for name in ("a", "b"):
        (staging / "data" / f"{name}.parquet").write_text(name)
    # The journal is written, one file moved, then the driver died.
    journal = {"run_id": "r", "new": ["data/a.parquet", "data/b.parquet"], "old": ["old.parquet"]}
    (control / "commit.json").write_text(json.dumps(journal))
    (out / "old.parquet").write_text("old")
    (out / "data").mkdir()
    os.replace(staging / "data" / "a.parquet", out / "data" / "a.parquet")
    assert out_mod.finish_interrupted_commit(out, control)
    assert (out / "data" / "b.parquet").read_text() == "b" and not (out / "old.parquet").exists()
    assert json.loads((out / out_mod.OWNED_MANIFEST).read_text())["files"] == journal["new"]
