"""Parquet reader: text/id/url/fetch_time columns, null and undecodable text, bad files."""
from __future__ import annotations

import datetime as dt
import inspect

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.readers import InputFile, read_file
from curate.schema import document_id

UTC = dt.UTC


def write_parquet(path, table: pa.Table, row_group_size: int = 4) -> InputFile:
    pq.write_table(table, path, row_group_size=row_group_size)
    return InputFile(uri=str(path), source=path.name, size=path.stat().st_size, format="parquet")


def test_rows_become_documents_or_rejects(tmp_path, read):
    n = 11
    table = pa.table({
        "text": [None if i in (3, 8) else f"text {i}" for i in range(n)],
        "id": [None if i % 4 == 0 else ("" if i == 5 else f"own-{i}") for i in range(n)],
        "url": [f"http://a/{i}" for i in range(n)],
        "fetch_time": pa.array([dt.datetime(2020, 1, 1, i) for i in range(n)], type=pa.timestamp("ns")),
        "score": [0.5] * n,  # unknown columns are dropped
    })
    f = write_parquet(tmp_path / "docs.parquet", table)
    result = read(f, batch_size=3)
    assert result.records_seen == n == result.counters["parquet_rows_total"]
    kept = result.kept.to_pylist()
    expected_ids = [document_id(f.source, i) if i % 4 == 0 or i == 5 else f"own-{i}" for i in range(n) if i not in (3, 8)]
    assert [d["id"] for d in kept] == expected_ids
    assert kept[1] == {
        "id": "own-1", "url": "http://a/1", "source": "docs.parquet", "fetch_time": dt.datetime(2020, 1, 1, 1, tzinfo=UTC),
        "warc_record_id": None, "content_type": None, "charset": None, "html": None, "text": "text 1"}
    rejected = result.rejected.to_pylist()
    assert [(r["id"], r["reason"], r["detail"], r["url"]) for r in rejected] == [
        ("own-3", "missing_text", "row 3", "http://a/3"), (document_id(f.source, 8), "missing_text", "row 8", "http://a/8")]
    assert result.batches == 4  # 11 rows in batches of <= 3


def test_iterates_lazily(tmp_path):
    f = write_parquet(tmp_path / "many.parquet", pa.table({"text": [f"t{i}" for i in range(1000)]}), row_group_size=100)
    batches = read_file(f, batch_size=64)
    assert inspect.isgenerator(batches)
    sizes = [b.kept.num_rows for b in batches]
    assert max(sizes) <= 64 and sum(sizes) == 1000


def test_date_strings_and_large_string_text(tmp_path, read):
    table = pa.table({
        "text": pa.array(["a", "b", "c"], type=pa.large_string()),
        "date": ["2013-05-18T05:48:54Z", "garbage", None],
        "id": [1, 2, 3],
    })
    result = read(write_parquet(tmp_path / "fineweb.parquet", table))
    assert result.kept.column("id").to_pylist() == ["1", "2", "3"]
    assert result.kept.column("fetch_time").to_pylist() == [dt.datetime(2013, 5, 18, 5, 48, 54, tzinfo=UTC), None, None]
    assert result.counters["parquet_bad_fetch_time"] == 1


def test_binary_text_with_undecodable_values(tmp_path, read):
    table = pa.table({"text": pa.array([b"fine", b"caf\xe9", None], type=pa.binary())})
    result = read(write_parquet(tmp_path / "bin.parquet", table))
    assert result.kept.column("text").to_pylist() == ["fine"]
    assert result.rejected.column("reason").to_pylist() == ["undecodable_text", "missing_text"]


@pytest.mark.parametrize(
    "table, detail",
    [
        (pa.table({"content": ["no text column"]}), "no column named text"),
        (pa.table({"text": [1, 2]}), "text column has type int64"),
    ],
)
def test_file_without_usable_text_column(tmp_path, read, table, detail):
    result = read(write_parquet(tmp_path / "bad.parquet", table))
    assert result.kept.num_rows == 0
    assert result.rejected.select(["reason", "detail"]).to_pylist() == [{"reason": "missing_text_column", "detail": detail}]
    assert result.counters["file_errors"] == 1


def test_not_a_parquet_file_and_missing_file(tmp_path, read):
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"this is not parquet")
    result = read(InputFile(str(junk), junk.name, 19, "parquet"))
    assert result.rejected.select(["reason", "detail"]).to_pylist() == [{"reason": "unreadable_file", "detail": "ArrowInvalid at footer"}]
    missing = read(InputFile(str(tmp_path / "nope.parquet"), "nope.parquet", 0, "parquet"))
    assert missing.rejected.column("reason").to_pylist() == ["unreadable_file"]


def test_reads_through_fsspec_memory_filesystem(read):
    uri = "memory://parquet-test/docs.parquet"
    with fsspec.open(uri, "wb") as fh:
        pq.write_table(pa.table({"text": ["x", "y"], "url": ["http://m/1", None]}), fh)
    result = read(InputFile(uri=uri, source=uri, size=0, format="parquet"))
    assert result.kept.column("url").to_pylist() == ["http://m/1", None]
    assert result.kept.column("id").to_pylist() == [document_id(uri, 0), document_id(uri, 1)]
