"""Writing one mix shard: Parquet rows, optional token arrays, the shard's ledger lines.

Token array formats (per shard, beside the Parquet file, rows in the same order):

* ``npy``: ``tokens/part-i-of-M.npy`` — one flat little-endian ``uint32`` array, every row's
  tokens concatenated (no separators, no special tokens), plus ``part-i-of-M.offsets.npy`` —
  ``uint64``, rows + 1 entries: row *r* is ``tokens[offsets[r]:offsets[r + 1]]``.
* ``megatron``: ``tokens/part-i-of-M.bin`` / ``.idx`` — Megatron-LM's ``MMapIndexedDataset``
  (``megatron.core.datasets.indexed_dataset.IndexedDataset(prefix)`` reads it). ``.bin``: the
  tokens, little-endian, ``uint16`` when the vocabulary has < 65,500 entries, else ``int32``
  (Megatron's own rule). ``.idx``: ``b"MMIDIDX\\x00\\x00"``, version ``<Q`` 1, dtype code ``<B``
  (8 = uint16, 4 = int32), sequence count ``<Q``, document count ``<Q`` (sequences + 1),
  sequence lengths ``int32[n]``, byte pointers into ``.bin`` ``int64[n]``, document indices
  ``int64[n + 1]`` (0, 1, …, n: one sequence per row).
"""
from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

MEGATRON_HEADER = b"MMIDIDX\x00\x00"
MEGATRON_DTYPES = {8: np.uint16, 4: np.int32}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def shard_name(shard: int, num_shards: int) -> str:
    return f"part-{shard:05d}-of-{num_shards:05d}"


def _replace_into(path: Path, write) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp"
    write(tmp)
    os.replace(tmp, path)
    return {"bytes": path.stat().st_size, "sha256": sha256_file(path)}


def write_parquet(table: pa.Table, path: Path, output: dict) -> dict:
    compression = output["compression"]
    return _replace_into(path, lambda tmp: pq.write_table(
        table, tmp,
        compression=None if compression == "none" else compression,
        compression_level=output["compression_level"] if compression in ("zstd", "gzip") else None,
        row_group_size=output["row_group_rows"],
    ))


def megatron_dtype(vocab_size: int) -> tuple[int, type]:
    return (8, np.uint16) if vocab_size < 65500 else (4, np.int32)


def write_megatron(prefix: Path, sequences: list[np.ndarray], vocab_size: int) -> dict[str, dict]:
    code, dtype = megatron_dtype(vocab_size)
    lengths = np.asarray([len(s) for s in sequences], dtype=np.int32)
    pointers = np.concatenate([[0], np.cumsum(lengths.astype(np.int64))[:-1]]).astype(np.int64) * np.dtype(dtype).itemsize if len(lengths) else np.zeros(0, np.int64)
    documents = np.arange(len(sequences) + 1, dtype=np.int64)

    def write_bin(tmp: Path):
        with open(tmp, "wb") as fh:
            for s in sequences:
                fh.write(s.astype(dtype).astype(np.dtype(dtype).newbyteorder("<")).tobytes())

    def write_idx(tmp: Path):
        with open(tmp, "wb") as fh:
            fh.write(MEGATRON_HEADER)
            fh.write(struct.pack("<Q", 1))
            fh.write(struct.pack("<B", code))
            fh.write(struct.pack("<Q", len(lengths)))
            fh.write(struct.pack("<Q", len(documents)))
            fh.write(lengths.astype("<i4").tobytes())
            fh.write(pointers.astype("<i8").tobytes())
            fh.write(documents.astype("<i8").tobytes())

    bin_path, idx_path = prefix.with_name(prefix.name + ".bin"), prefix.with_name(prefix.name + ".idx")
    return {"bin": {"path": bin_path, **_replace_into(bin_path, write_bin)},
            "idx": {"path": idx_path, **_replace_into(idx_path, write_idx)}}


def read_megatron(prefix: Path) -> tuple[np.ndarray, np.ndarray]:
    """(sequence lengths, all tokens) of a ``.bin``/``.idx`` pair, parsed from the format above
    (used by the audit and the tests; a trainer uses Megatron's own reader)."""
    raw = Path(str(prefix) + ".idx").read_bytes()
    if raw[:9] != MEGATRON_HEADER:
        raise ValueError(f"{prefix}.idx: not a Megatron index (bad header)")
    version, = struct.unpack_from("<Q", raw, 9)
    code, = struct.unpack_from("<B", raw, 17)
    sequences, documents = struct.unpack_from("<QQ", raw, 18)
    if version != 1 or code not in MEGATRON_DTYPES:
        raise ValueError(f"{prefix}.idx: version {version} / dtype code {code} not supported")
    offset = 34
    lengths = np.frombuffer(raw, dtype="<i4", count=sequences, offset=offset)
    offset += 4 * sequences
    pointers = np.frombuffer(raw, dtype="<i8", count=sequences, offset=offset)
    offset += 8 * sequences
    doc_index = np.frombuffer(raw, dtype="<i8", count=documents, offset=offset)
    dtype = np.dtype(MEGATRON_DTYPES[code]).newbyteorder("<")
    tokens = np.fromfile(str(prefix) + ".bin", dtype=dtype)
    expected = np.concatenate([[0], np.cumsum(lengths.astype(np.int64))[:-1]]) * dtype.itemsize if sequences else pointers
    if not np.array_equal(pointers, expected) or (sequences and doc_index[-1] != sequences) or tokens.size != int(lengths.sum()):
        raise ValueError(f"{prefix}: index and data disagree")
    return lengths, tokens


def write_npy(path: Path, sequences: list[np.ndarray]) -> dict[str, dict]:
    flat = np.concatenate(sequences).astype("<u4") if sequences else np.zeros(0, "<u4")
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sequences])]).astype("<u8")
    offsets_path = path.with_name(path.stem + ".offsets.npy")
    return {"npy": {"path": path, **_replace_into(path, lambda tmp: _save(tmp, flat))},
            "offsets": {"path": offsets_path, **_replace_into(offsets_path, lambda tmp: _save(tmp, offsets))}}


def _save(tmp: Path, array: np.ndarray) -> None:
    with open(tmp, "wb") as fh:  # np.save on a path would append ".npy" to the temporary name
        np.save(fh, array, allow_pickle=False)


def shard_summary(table: pa.Table) -> dict:
    """Rows, documents (first copies), repeats and tokens of mix rows, in total and per bucket."""
    counted = table.select(["mix_bucket", "tokens"]).append_column("first", pc.equal(table.column("mix_copy"), 0).cast(pa.int64()))
    grouped = counted.group_by("mix_bucket").aggregate([("tokens", "sum"), ("tokens", "count"), ("first", "sum")])
    by_bucket = {
        bucket: {"tokens": int(tokens), "rows": int(rows), "documents": int(first)}
        for bucket, tokens, rows, first in zip(grouped.column("mix_bucket").to_pylist(), grouped.column("tokens_sum").to_pylist(),
                                                grouped.column("tokens_count").to_pylist(), grouped.column("first_sum").to_pylist(), strict=True)
    }
    documents = sum(v["documents"] for v in by_bucket.values())
    return {
        "rows": table.num_rows,
        "documents": documents,
        "repeats": table.num_rows - documents,
        "tokens": sum(v["tokens"] for v in by_bucket.values()),
        "by_bucket": dict(sorted(by_bucket.items())),
    }
