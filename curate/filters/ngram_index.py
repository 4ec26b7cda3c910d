"""Word n-gram hashes of benchmark texts, and their lookup in documents (decontamination).

Text is normalised the same way on both sides: Unicode NFKC, lower case, words are runs of letters
and digits (``\\w`` without ``_``), so punctuation, case and spacing edits do not hide a copy. A
word is hashed once (xxh3-64); an n-gram's hash is a polynomial of its words' hashes modulo 2^64,
computed for a whole text at once with numpy. The index holds only hashes (sorted ``uint64``) and,
per hash, the benchmark item it came from (for the coverage rule), never text; it is built once
from the benchmark files and cached on disk keyed by their sha256 (``$CURATE_CACHE`` or
``~/.cache/curate``), so every worker of a run loads the same arrays.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

INDEX_FORMAT = "1"
_WORD = re.compile(r"[^\W_]+")
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd: the polynomial stays a bijection per position


def words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def ngram_hashes(text: str, n: int) -> np.ndarray:
    """The hashes of every word n-gram of ``text`` (empty when it has fewer than n words)."""
    tokens = words(text)
    if len(tokens) < n:
        return np.zeros(0, dtype=np.uint64)
    word_hashes = np.fromiter((xxhash.xxh3_64_intdigest(w.encode()) for w in tokens), dtype=np.uint64, count=len(tokens))
    count = len(tokens) - n + 1
    with np.errstate(over="ignore"):
        acc = word_hashes[:count].copy()
        for j in range(1, n):
            acc = acc * _MULTIPLIER + word_hashes[j:j + count]
    return acc


@dataclass
class NgramIndex:
    """One benchmark's n-grams: sorted hashes, the item each came from, n-grams per item."""

    name: str
    n: int
    hashes: np.ndarray  # uint64, sorted, distinct
    items: np.ndarray  # int64: the first item holding each hash
    item_ngrams: np.ndarray  # int64: distinct n-grams per item
    files_sha256: str

    @classmethod
    def build(cls, name: str, n: int, texts_by_item: list[str], files_sha256: str) -> NgramIndex:
        per_item = [np.unique(ngram_hashes(t, n)) for t in texts_by_item]
        counts = np.array([len(h) for h in per_item], dtype=np.int64)
        if counts.sum():
            all_hashes = np.concatenate(per_item)
            owners = np.repeat(np.arange(len(per_item), dtype=np.int64), counts)
            order = np.lexsort((owners, all_hashes))  # by hash, then item: the first item of each hash first
            all_hashes, owners = all_hashes[order], owners[order]
            first = np.ones(len(all_hashes), dtype=bool)
            first[1:] = all_hashes[1:] != all_hashes[:-1]
            hashes, items = all_hashes[first], owners[first]
        else:
            hashes, items = np.zeros(0, np.uint64), np.zeros(0, np.int64)
        return cls(name, n, hashes, items, counts, files_sha256)

    def match(self, document_hashes: np.ndarray) -> tuple[int, float]:
        """(distinct benchmark n-grams the document holds, the largest share of one item's n-grams
        among them)."""
        if not len(self.hashes) or not len(document_hashes):
            return 0, 0.0
        query = np.unique(document_hashes)
        at = np.searchsorted(self.hashes, query)
        at[at == len(self.hashes)] = 0
        hit = self.hashes[at] == query
        matched = int(hit.sum())
        if not matched:
            return 0, 0.0
        per_item = np.bincount(self.items[at[hit]], minlength=len(self.item_ngrams))
        with np.errstate(divide="ignore", invalid="ignore"):
            coverage = np.where(self.item_ngrams > 0, per_item / np.maximum(self.item_ngrams, 1), 0.0)
        return matched, float(coverage.max())

    # --- cache ---------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with partial.open("wb") as handle:
            np.savez(handle, hashes=self.hashes, items=self.items, item_ngrams=self.item_ngrams,
                     meta=np.array(json.dumps({"name": self.name, "n": self.n, "files_sha256": self.files_sha256})))
        os.replace(partial, path)

    @classmethod
    def load(cls, path: Path) -> NgramIndex:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            return cls(meta["name"], meta["n"], stored["hashes"], stored["items"], stored["item_ngrams"], meta["files_sha256"])


# --- benchmark files ---------------------------------------------------------------------------

def benchmark_files(location: str) -> list[str]:
    """The files of a path, glob, directory or fsspec URI, sorted."""
    import fsspec

    fs, _, paths = fsspec.get_fs_token_paths(location)
    out = []
    for path in paths:
        if fs.isdir(path):
            out += [p for p in fs.find(path) if not Path(p).name.startswith(".")]
        else:
            out.append(path)
    if not out:
        raise FileNotFoundError(f"decontaminate: benchmark location {location!r} matches no file")
    from fsspec.implementations.local import LocalFileSystem

    return [p if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(p) for p in sorted(out)]


def _format(path: str, declared: str) -> str:
    if declared != "auto":
        return declared
    name = path.lower()
    for suffix in (".gz", ".zst", ".bz2", ".xz"):
        name = name.removesuffix(suffix)
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    return "text"


def read_items(path: str, fmt: str, fields: list[str]) -> list[str]:
    """One text per benchmark item: the named fields joined (JSONL rows, Parquet rows), or one
    item per non-empty paragraph (blank-line separated) of a text file."""
    import fsspec

    fmt = _format(path, fmt)
    with fsspec.open(path, "rb", compression="infer") as handle:
        data = handle.read()
    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
        missing = [f for f in fields if f not in table.column_names]
        if missing:
            raise ValueError(f"decontaminate: {path}: no field(s) {missing} (it has {table.column_names})")
        columns = [table.column(f).to_pylist() for f in fields]
        return [" ".join(_flatten(v) for v in row) for row in zip(*columns, strict=True)]
    text = data.decode("utf-8-sig")
    if fmt == "jsonl":
        items = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"decontaminate: {path}: line {number} is not JSON ({error.msg})") from None
            if not isinstance(row, dict) or not any(f in row for f in fields):
                raise ValueError(f"decontaminate: {path}: line {number} has none of the fields {fields}")
            items.append(" ".join(_flatten(row.get(f)) for f in fields))
        return items
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def _flatten(value) -> str:
    """A field's text: strings as they are, lists (answer choices) and dicts joined, None empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return " ".join(_flatten(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return " ".join(_flatten(v) for v in value)
    return str(value)


def files_fingerprint(paths: list[str], fmt: str, fields: list[str], n: int) -> str:
    import fsspec

    digest = hashlib.sha256(f"{INDEX_FORMAT}|{fmt}|{','.join(fields)}|{n}".encode())
    for path in paths:
        digest.update(path.encode() + b"\0")
        with fsspec.open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def load_index(name: str, location: str, fmt: str, fields: list[str], n: int) -> NgramIndex:
    """The benchmark's index from the disk cache, or built from its files and cached."""
    paths = benchmark_files(location)
    fingerprint = files_fingerprint(paths, fmt, fields, n)
    cache = Path(os.environ.get("CURATE_CACHE") or Path.home() / ".cache" / "curate") / "decontaminate" / f"{fingerprint[:40]}.npz"
    if cache.is_file():
        index = NgramIndex.load(cache)
        index.name = name
        return index
    items = [text for path in paths for text in read_items(path, fmt, fields)]
    index = NgramIndex.build(name, n, items, fingerprint)
    index.save(cache)
    return index
