"""list_inputs / list_inputs_with_skipped, read_file dispatch and sha256_of."""
from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import fsspec
import pytest

from curate.readers import InputFile, detect_format, list_inputs, list_inputs_with_skipped, read_file, sha256_of


@pytest.fixture
def corpus(tmp_path) -> Path:
    root = tmp_path / "corpus"
    files = {
        "b/2.jsonl.gz": gzip.compress(b'{"text": "two"}\n'),
        "b/deeper/3.parquet": b"PAR1",
        "a/1.warc.gz": b"\x1f\x8b",
        "a/1.warc.wat.gz": b"wat",  # metadata only: no documents
        "top.jsonl": b'{"text": "top"}\n',
        "README.md": b"# notes",
        ".hidden/x.jsonl": b"{}",
        "a/._1.warc.gz": b"macOS resource fork",
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_directory_is_walked_recursively_and_sorted(corpus):
    files, skipped = list_inputs_with_skipped(str(corpus))
    assert [(f.source, f.format) for f in files] == [
        ("a/1.warc.gz", "warc"), ("b/2.jsonl.gz", "jsonl"), ("b/deeper/3.parquet", "parquet"), ("top.jsonl", "jsonl")]
    assert skipped == [".hidden/x.jsonl", "README.md", "a/._1.warc.gz", "a/1.warc.wat.gz"]
    top = files[-1]
    assert top.uri == str(corpus / "top.jsonl") and top.size == (corpus / "top.jsonl").stat().st_size
    assert list_inputs(str(corpus) + "/") == files  # a trailing slash changes nothing


def test_glob_sources_are_relative_to_the_glob_root(corpus):
    assert [f.source for f in list_inputs(str(corpus / "b" / "**" / "*"))] == ["2.jsonl.gz", "deeper/3.parquet"]
    assert [f.source for f in list_inputs(str(corpus / "*" / "*.warc.gz"))] == ["a/1.warc.gz"]
    # A glob matching directories takes everything under them.
    assert [f.source for f in list_inputs(str(corpus / "[ab]"))] == ["a/1.warc.gz", "b/2.jsonl.gz", "b/deeper/3.parquet"]


def test_single_file_and_file_uri(corpus):
    [single] = list_inputs(str(corpus / "b" / "2.jsonl.gz"))
    assert single.source == "2.jsonl.gz" and single.format == "jsonl"
    assert list_inputs(f"file://{corpus}") == list_inputs(str(corpus))
    [out] = list(read_file(single))
    assert out.kept.column("text").to_pylist() == ["two"]


def test_memory_filesystem(read):
    with fsspec.open("memory://listing-test/c/one.jsonl", "wb") as fh:
        fh.write(json.dumps({"text": "in memory"}).encode() + b"\n")
    with fsspec.open("memory://listing-test/notes.txt", "wb") as fh:
        fh.write(b"skip me")
    files, skipped = list_inputs_with_skipped("memory://listing-test")
    assert [(f.uri, f.source, f.format, f.size) for f in files] == [
        ("memory:///listing-test/c/one.jsonl", "memory:///listing-test/c/one.jsonl", "jsonl", 22)]
    assert skipped == ["memory:///listing-test/notes.txt"]
    assert [f.source for f in list_inputs("memory://listing-test/*/*.jsonl")] == ["memory:///listing-test/c/one.jsonl"]
    result = read(files[0])
    assert result.kept.column("source").to_pylist() == ["memory:///listing-test/c/one.jsonl"]
    assert sha256_of(files[0]) == hashlib.sha256(json.dumps({"text": "in memory"}).encode() + b"\n").hexdigest()


@pytest.mark.parametrize("pattern", ["does-not-exist", "does-not-exist/*.warc.gz", "empty-dir", "only-notes"])
def test_nothing_to_read_is_a_clear_error(tmp_path, pattern):
    (tmp_path / "empty-dir").mkdir()
    (tmp_path / "only-notes").mkdir()
    (tmp_path / "only-notes" / "notes.txt").write_text("x")
    corpus = str(tmp_path / pattern)
    with pytest.raises(ValueError, match="corpus") as err:
        list_inputs(corpus)
    assert corpus in str(err.value)


def test_single_file_of_unknown_type_is_an_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("x")
    with pytest.raises(ValueError, match="not a supported input file"):
        list_inputs(str(path))
    with pytest.raises(ValueError, match="empty"):
        list_inputs("  ")


def test_detect_format():
    assert detect_format("CC-MAIN-2024-22/x.warc.wet.gz") == "warc"
    assert detect_format("X.ARC.GZ") == "warc"
    assert detect_format("x.warc.lz4") == "warc"  # listed, so the reader can report it
    assert detect_format("x.warc.wat.gz") is None
    assert detect_format("x.json.gz") == "jsonl"
    assert detect_format("x.json") is None
    assert detect_format("part-0.parquet") == "parquet"


def test_sha256_of_raw_bytes(corpus):
    [f] = list_inputs(str(corpus / "b" / "2.jsonl.gz"))
    assert sha256_of(f) == hashlib.sha256((corpus / "b" / "2.jsonl.gz").read_bytes()).hexdigest()


def test_unknown_format_is_a_reject_not_an_exception(read):
    result = read(InputFile(uri="/nowhere", source="x.csv", size=0, format="csv"))
    assert result.rejected.select(["reason", "detail"]).to_pylist() == [{"reason": "unsupported_format", "detail": "csv"}]
