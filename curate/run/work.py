"""The run's working files: a root (``OUT/.work`` or ``--work DIR``, a local path or an fsspec URI)
holding each pass's part files and completion records.

The commit rule, everywhere: a unit writes its data files first and its record last, and a
record names the exact files (with rows, bytes and sha256) it commits. A unit without a record
did not happen — its files, whole or half-written, are overwritten by the next attempt. So on a
local disk nothing needs to be renamed to be atomic except the record itself (written to a
temporary name and renamed), and on an object store, where a PUT is atomic, nothing at all.
"""
from __future__ import annotations

import hashlib
import json
import os
import posixpath
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fsspec
from fsspec.core import url_to_fs


class HashingWriter:
    """A binary sink that hashes (sha256) and counts what passes through it."""

    def __init__(self, raw):
        self.raw = raw
        self.sha = hashlib.sha256()
        self.bytes = 0
        self.closed = False

    def write(self, data) -> int:
        view = memoryview(data)
        self.sha.update(view)
        self.bytes += view.nbytes
        self.raw.write(view)
        return view.nbytes

    def flush(self) -> None:
        self.raw.flush()

    def tell(self) -> int:
        return self.bytes

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


class WorkStore:
    """Paths under the work root; every method takes a path relative to it (``/``-separated)."""

    def __init__(self, root: str):
        self.root = root.rstrip("/") or "/"
        self.fs, self.base = url_to_fs(self.root)
        self.local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, (tuple, list)) else (self.fs.protocol,))

    def __getstate__(self):  # workers rebuild the filesystem from the root
        return {"root": self.root}

    def __setstate__(self, state):
        self.__init__(state["root"])

    def full(self, rel: str) -> str:
        return posixpath.join(self.base, rel) if rel else self.base

    def uri(self, rel: str) -> str:
        return self.full(rel) if self.local else f"{self.root}/{rel}"

    def exists(self, rel: str) -> bool:
        return self.fs.exists(self.full(rel))

    def size(self, rel: str) -> int:
        return int(self.fs.size(self.full(rel)))

    def makedirs(self, rel: str) -> None:
        if self.local:
            os.makedirs(self.full(rel), exist_ok=True)

    def _parent_for(self, path: str) -> None:
        """An object store has no folders; a file system behind fsspec (NFS, a mounted bucket) does."""
        try:
            self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        except Exception:  # stores without folders refuse or ignore; either way the write goes on
            pass

    def listdir(self, rel: str) -> list[str]:
        """Names directly under ``rel`` (empty when it does not exist)."""
        path = self.full(rel)
        if self.local:
            try:
                return sorted(os.listdir(path))
            except FileNotFoundError:
                return []
        try:
            return sorted(posixpath.basename(p.rstrip("/")) for p in self.fs.ls(path, detail=False))
        except FileNotFoundError:
            return []

    def remove(self, rel: str) -> None:
        path = self.full(rel)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    @contextmanager
    def open_output(self, rel: str) -> Iterator[HashingWriter]:
        """A hashing sink for one data file. Locally it writes in place: a half-written file is
        harmless because only a record (written after it) makes a file count."""
        path = self.full(rel)
        if self.local:
            os.makedirs(posixpath.dirname(path), exist_ok=True)
        else:
            self._parent_for(path)
        with self.fs.open(path, "wb") as raw:
            sink = HashingWriter(raw)
            yield sink

    def open_input(self, rel: str):
        if self.local:
            import pyarrow as pa

            return pa.memory_map(self.full(rel), "r")
        return self.fs.open(self.full(rel), "rb")

    def write_json(self, rel: str, obj: Any) -> None:
        data = (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode("utf-8")
        path = self.full(rel)
        if self.local:
            os.makedirs(posixpath.dirname(path), exist_ok=True)
            tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        else:
            self._parent_for(path)
            self.fs.pipe_file(path, data)

    def read_json(self, rel: str) -> Any | None:
        """The JSON at ``rel``, or None when it is missing or unreadable (a torn write is no record)."""
        try:
            with self.fs.open(self.full(rel), "rb") as fh:
                return json.loads(fh.read().decode("utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None


def open_store(root: str) -> WorkStore:
    if "://" not in root:
        root = os.path.abspath(root)
    store = WorkStore(root)
    store.makedirs("")
    return store


def is_uri(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def fsspec_open(uri: str, mode: str = "rb"):
    return fsspec.open(uri, mode).open()
