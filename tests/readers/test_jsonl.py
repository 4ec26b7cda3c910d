"""JSONL reader: plain, gzip and zstd files with good, broken and odd lines."""
from __future__ import annotations

import datetime as dt
import gzip
import inspect
import json
from pathlib import Path

import pytest
import zstandard

from curate.readers import InputFile, read_file
from curate.schema import document_id

UTC = dt.UTC

# (line content, what becomes of it). Line numbers are 1-based and count blank lines too.
LINES: list[tuple[bytes, str]] = [
    (json.dumps({"text": "first", "url": "http://a/1", "date": "2024-05-18T01:58:10Z", "source": "ignored"}).encode(), "kept"),
    (json.dumps({"id": "doc-7", "text": "has its own id", "extra": [1, 2]}).encode(), "kept"),
    (json.dumps({"id": 42, "text": "numeric id", "fetch_time": "2020-08-08 17:27:41"}).encode(), "kept"),
    (json.dumps({"id": "  ", "text": "blank id: derived"}).encode(), "kept"),
    (b"", "blank"),
    (b'{"text": "unterminated', "malformed_json"),
    (b'["a", "list"]', "malformed_json"),
    (json.dumps({"url": "http://a/no-text"}).encode(), "missing_text"),
    (json.dumps({"id": "doc-9", "text": 12}).encode(), "missing_text"),
    (b'{"text": "caf\xe9 latin-1"}', "undecodable_text"),
    (b'{"text": "lone \\ud800 surrogate"}', "undecodable_text"),
    (json.dumps({"text": "", "date": "not a date"}).encode(), "kept"),
    (b"  ", "blank"),
    (json.dumps({"text": "last line, no newline", "id": None}, ensure_ascii=False).encode(), "kept"),
]


def write_lines(path: Path, lines: list[bytes]) -> InputFile:
    data = b"\n".join(lines)  # the last line has no trailing newline
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    elif path.name.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return InputFile(uri=str(path), source=path.name, size=len(data), format="jsonl")


@pytest.mark.parametrize("name", ["docs.jsonl", "docs.jsonl.gz", "docs.jsonl.zst", "docs.json.gz"])
def test_lines_become_documents_or_rejects(tmp_path, read, name):
    f = write_lines(tmp_path / name, [line for line, _ in LINES])
    result = read(f, batch_size=3)
    outcome = {n: what for n, (_, what) in enumerate(LINES, start=1)}
    non_blank = [n for n, what in outcome.items() if what != "blank"]
    # Nothing vanishes: every non-blank line is a document or a reject row.
    assert result.records_seen == len(non_blank) == result.counters["jsonl_lines_total"]
    assert result.counters["jsonl_blank_lines"] == 2

    kept = result.kept.to_pylist()
    assert [d["id"] for d in kept] == [
        document_id(name, 1), "doc-7", "42", document_id(name, 4), document_id(name, 12), document_id(name, 14)]
    assert [d["text"] for d in kept] == [
        "first", "has its own id", "numeric id", "blank id: derived", "", "last line, no newline"]
    first = kept[0]
    assert first["url"] == "http://a/1" and first["source"] == name  # the file, not the row's "source"
    assert first["fetch_time"] == dt.datetime(2024, 5, 18, 1, 58, 10, tzinfo=UTC)
    assert kept[2]["fetch_time"] == dt.datetime(2020, 8, 8, 17, 27, 41, tzinfo=UTC)  # naive -> UTC
    assert kept[4]["fetch_time"] is None and result.counters["jsonl_bad_fetch_time"] == 1
    assert all(d["html"] is None and d["warc_record_id"] is None for d in kept)

    rejected = {r["detail"].split(":")[0]: (r["reason"], r["id"]) for r in result.rejected.to_pylist()}
    expected = {f"line {n}": what for n, what in outcome.items() if what not in ("kept", "blank")}
    assert {line: reason for line, (reason, _) in rejected.items()} == expected
    assert rejected["line 9"][1] == "doc-9"  # a rejected row keeps its own id
    assert rejected["line 6"][1] == document_id(name, 6)
    assert result.batches >= 4  # 14 rows in batches of <= 3


def test_read_file_is_a_stream(tmp_path):
    f = write_lines(tmp_path / "many.jsonl.zst", [json.dumps({"text": f"doc {i}"}).encode() for i in range(1000)])
    batches = read_file(f, batch_size=100)
    assert inspect.isgenerator(batches)
    sizes = [b.kept.num_rows for b in batches]
    assert sizes[:10] == [100] * 10 and sum(sizes) == 1000


def test_oversized_line_is_skipped_without_losing_its_neighbours(tmp_path, read):
    lines = [json.dumps({"text": "short"}).encode(), json.dumps({"text": "x" * 5000}).encode(), json.dumps({"text": "after"}).encode()]
    result = read(write_lines(tmp_path / "big.jsonl", lines), max_payload_bytes=1000)
    assert result.kept.column("text").to_pylist() == ["short", "after"]
    assert result.rejected.column("reason").to_pylist() == ["payload_too_large"]
    assert result.rejected.column("detail").to_pylist() == ["line 2: >1000 bytes"]


def test_truncated_gzip_keeps_what_was_read(tmp_path, read):
    lines = [json.dumps({"text": f"document number {i} " + "word " * (i % 50)}).encode() for i in range(3000)]
    data = gzip.compress(b"\n".join(lines) + b"\n", mtime=0)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    result = read(InputFile(str(path), path.name, len(data) // 2, "jsonl"), batch_size=500)
    assert 0 < result.kept.num_rows < 3000
    assert result.rejected.column("reason").to_pylist()[-1] == "corrupt_file"
    assert result.counters["file_errors"] == 1
    assert result.rejected.column("detail").to_pylist()[-1].startswith("EOFError at line")


def test_unreadable_and_not_gzip(tmp_path, read):
    missing = read(InputFile(str(tmp_path / "nope.jsonl"), "nope.jsonl", 0, "jsonl"))
    assert missing.rejected.column("reason").to_pylist() == ["unreadable_file"]
    fake = tmp_path / "fake.jsonl.gz"
    fake.write_bytes(b'{"text": "not compressed"}\n')
    result = read(InputFile(str(fake), fake.name, 27, "jsonl"))
    assert result.kept.num_rows == 0
    assert result.rejected.to_pylist()[0]["reason"] == "corrupt_file"
    assert result.rejected.to_pylist()[0]["detail"] == "BadGzipFile at line 1"


def test_byte_order_mark_and_crlf(tmp_path, read):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "one"}\r\n{"text": "two"}\r\n')
    result = read(InputFile(str(path), path.name, path.stat().st_size, "jsonl"))
    assert result.kept.column("text").to_pylist() == ["one", "two"] and result.rejected.num_rows == 0
