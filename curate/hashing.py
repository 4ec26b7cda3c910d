"""The one place curate hashes bytes: files, streams and folders (sha256), and document-id digests.

Runner, audit, readers, mix and model references all use these, so a checksum written by one is
recomputed the same way by another.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import xxhash

CHUNK_BYTES = 1 << 20
_MASK64 = (1 << 64) - 1


def sha256_stream(handle: BinaryIO, chunk_bytes: int = CHUNK_BYTES) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(chunk_bytes):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | Path) -> str:
    with open(path, "rb") as handle:
        return sha256_stream(handle)


def sha256_tree(folder: str | Path) -> str:
    """One sha256 over a folder: every file's relative path and bytes, in path order."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f.relative_to(folder).as_posix().encode() + b"\0")
        with f.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()


class IdDigest:
    """An order-independent digest of a multiset of document ids: their count and the sum of
    their xxh3-64 hashes modulo 2^64.

    Readers digest the ids they emit per input file; `curate audit` digests the ids it finds in
    data/ and rejects/. Equal digests mean the same ids, each as often: a lost document, a
    duplicated one or a foreign one changes the sum (a collision needs a 2^-64 coincidence).
    """

    __slots__ = ("count", "total")

    def __init__(self, count: int = 0, total: int = 0):
        self.count = count
        self.total = total

    def add(self, ids: Iterable[str | None]) -> None:
        total, count = self.total, self.count
        for doc_id in ids:
            total += xxhash.xxh3_64_intdigest((doc_id or "").encode("utf-8"))
            count += 1
        self.total, self.count = total & _MASK64, count

    def merge(self, other: IdDigest) -> None:
        self.count += other.count
        self.total = (self.total + other.total) & _MASK64

    def to_json(self) -> dict:
        return {"documents": self.count, "id_sum": f"{self.total:016x}"}

    @classmethod
    def from_json(cls, data: dict) -> IdDigest:
        return cls(int(data["documents"]), int(data["id_sum"], 16))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdDigest) and (self.count, self.total) == (other.count, other.total)

    def __repr__(self) -> str:
        return f"IdDigest({self.count} ids, sum {self.total:016x})"
