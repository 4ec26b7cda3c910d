"""Token counts with the offline tokenizer; Megatron .bin/.idx and .npy token arrays, byte by byte."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from curate.mix.tokens import TokenCounter, TokenizerError, resolve_tokenizer
from curate.mix.write import read_megatron, write_megatron, write_npy


@pytest.fixture(scope="module")
def counter():
    return TokenCounter(resolve_tokenizer("builtin:all-MiniLM-L6-v2"))


def test_counts_have_no_special_tokens_and_no_truncation(counter):
    # MiniLM's tokenizer.json truncates at 128 and pads; the count must be the whole document.
    long_text = "the quick brown fox jumps over the lazy dog " * 100
    counts = counter.count(["hello world", long_text, "", None])
    assert counts.tolist() == [2, 900, 0, 0]
    ids = counter.encode(["hello world"])[0]
    assert ids.dtype == np.uint32 and counter.tokenizer.decode(ids.tolist()) == "hello world"
    assert counter.vocab_size == 30522


def test_a_tokenizer_is_a_file_or_a_folder_holding_one(tmp_path):
    path = resolve_tokenizer("builtin:all-MiniLM-L6-v2")
    from pathlib import Path

    assert resolve_tokenizer(str(Path(path).parent)) == path
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(TokenizerError, match="is not a tokenizers file"):
        resolve_tokenizer(str(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TokenizerError, match="tokenizer.json not found"):
        resolve_tokenizer(str(tmp_path / "empty"))
    with pytest.raises(TokenizerError, match="no such file"):
        resolve_tokenizer(str(tmp_path / "nothing_here"))


def test_megatron_index_layout(tmp_path):
    sequences = [np.array([5, 6, 7], np.uint32), np.array([], np.uint32), np.array([30000, 1], np.uint32)]
    files = write_megatron(tmp_path / "part", sequences, vocab_size=30522)
    raw = (tmp_path / "part.idx").read_bytes()
    # Header, version 1, dtype code 8 (uint16: vocabulary < 65,500), 3 sequences, 4 document indices.
    assert raw[:9] == b"MMIDIDX\x00\x00"
    assert struct.unpack_from("<QBQQ", raw, 9) == (1, 8, 3, 4)
    assert np.frombuffer(raw, "<i4", 3, 34).tolist() == [3, 0, 2]
    assert np.frombuffer(raw, "<i8", 3, 46).tolist() == [0, 6, 6]  # byte pointers
    assert np.frombuffer(raw, "<i8", 4, 70).tolist() == [0, 1, 2, 3]
    assert len(raw) == 70 + 32
    assert (tmp_path / "part.bin").read_bytes() == np.array([5, 6, 7, 30000, 1], "<u2").tobytes()
    lengths, tokens = read_megatron(tmp_path / "part")
    assert lengths.tolist() == [3, 0, 2] and tokens.tolist() == [5, 6, 7, 30000, 1]
    assert files["bin"]["bytes"] == 10 and len(files["idx"]["sha256"]) == 64


def test_megatron_uses_int32_for_large_vocabularies_and_detects_a_bad_index(tmp_path):
    write_megatron(tmp_path / "big", [np.array([100_000, 2], np.uint32)], vocab_size=128_256)
    raw = (tmp_path / "big.idx").read_bytes()
    assert raw[17] == 4 and read_megatron(tmp_path / "big")[1].tolist() == [100_000, 2]
    (tmp_path / "big.bin").write_bytes(b"\x00" * 4)  # one token short
    with pytest.raises(ValueError, match="index and data disagree"):
        read_megatron(tmp_path / "big")


def test_npy_arrays_are_flat_uint32_with_row_offsets(tmp_path):
    write_npy(tmp_path / "part.npy", [np.array([1, 2], np.uint32), np.array([70000], np.uint32)])
    flat, offsets = np.load(tmp_path / "part.npy"), np.load(tmp_path / "part.offsets.npy")
    assert flat.dtype == np.uint32 and flat.tolist() == [1, 2, 70000]
    assert offsets.dtype == np.uint64 and offsets.tolist() == [0, 2, 3]
    assert not list(tmp_path.glob(".*"))  # temporaries renamed away
