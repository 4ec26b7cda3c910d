"""Turning a corpus argument (file, directory, glob or fsspec URI) into a sorted list of inputs.

The ``source`` of an input is what lands in every document's ``source`` column, so it must
not depend on where the corpus happens to be mounted: it is the path relative to the corpus
root for local directories and globs, the file name for a single local file, and the full
URI for remote filesystems (where the bucket and prefix are the stable part).
"""
from __future__ import annotations

import posixpath
from glob import has_magic

from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from curate.readers.batch import InputFile

# Matched with endswith, so ".warc.wet.gz" is covered by ".wet.gz". WAT files hold no
# documents and are skipped. LZ4, zstd, bzip2 and xz archives are decompressed by the WARC reader.
FORMAT_SUFFIXES: dict[str, tuple[str, ...]] = {
    "warc": (
        ".warc", ".warc.gz", ".arc", ".arc.gz", ".wet", ".wet.gz",
        ".warc.lz4", ".arc.lz4", ".warc.zst", ".arc.zst", ".warc.bz2", ".arc.bz2", ".warc.xz", ".arc.xz",
    ),
    "jsonl": (".jsonl", ".jsonl.gz", ".jsonl.zst", ".jsonl.bz2", ".jsonl.xz", ".json.gz", ".json.zst"),
    "parquet": (".parquet",),
}


def detect_format(name: str) -> str | None:
    """"warc" | "jsonl" | "parquet" from a file name, or None for anything else (WAT included)."""
    lower = name.lower()
    for fmt, suffixes in FORMAT_SUFFIXES.items():
        if lower.endswith(suffixes):
            return fmt
    return None


def list_inputs(corpus: str) -> list[InputFile]:
    """The input files of ``corpus``, sorted by source. Unsupported files are left out."""
    return list_inputs_with_skipped(corpus)[0]


class CorpusError(ValueError):
    """The corpus names nothing curate can read (no such path, or no supported file in it)."""


def list_inputs_with_skipped(corpus: str) -> tuple[list[InputFile], list[str]]:
    """(inputs sorted by source, names of the files skipped as not a supported format).

    Raises CorpusError (a ValueError) when ``corpus`` matches nothing or holds no supported file.
    """
    if not corpus or not corpus.strip():
        raise CorpusError("corpus is empty: give a file, directory, glob or fsspec URI")
    fs, path = url_to_fs(corpus.strip())
    local = isinstance(fs, LocalFileSystem)

    def name_of(file_path: str, root: str | None) -> str:
        if not local:
            return fs.unstrip_protocol(file_path)
        return posixpath.relpath(file_path, root) if root else posixpath.basename(file_path)

    def make_input(file_path: str, info: dict, root: str | None, fmt: str) -> InputFile:
        uri = file_path if local else fs.unstrip_protocol(file_path)
        return InputFile(uri=uri, source=name_of(file_path, root), size=int(info.get("size") or 0), format=fmt)

    if has_magic(path):
        root = _glob_root(path)
        entries = _expand(fs, fs.glob(path, detail=True))
    elif fs.isdir(path):
        root = path.rstrip("/") or "/"
        entries = _expand(fs, {path: {"type": "directory"}})
    elif fs.isfile(path):
        fmt = detect_format(path)
        if fmt is None:
            raise CorpusError(f"corpus {corpus!r} is not a supported input file; expected one of: {_supported()}")
        return [make_input(path, fs.info(path), None, fmt)], []
    else:
        raise CorpusError(f"corpus {corpus!r} matches no file or directory")

    inputs, skipped = [], []
    for file_path, info in entries.items():
        relative = posixpath.relpath(file_path, root)
        fmt = detect_format(file_path)
        # Hidden files and folders (.git, macOS ._x.warc.gz resource forks) are never data.
        if fmt is None or any(part.startswith(".") for part in relative.split("/")):
            skipped.append(name_of(file_path, root))
        else:
            inputs.append(make_input(file_path, info, root, fmt))
    if not inputs:
        raise CorpusError(
            f"corpus {corpus!r} holds no WARC/ARC/WET, JSONL or Parquet file "
            f"({len(skipped)} other file(s) skipped); expected one of: {_supported()}"
        )
    inputs.sort(key=lambda f: f.source)
    return inputs, sorted(skipped)


def _expand(fs, matches: dict[str, dict]) -> dict[str, dict]:
    """Files of a glob or directory listing; matched directories are walked recursively."""
    files: dict[str, dict] = {}
    for match_path, info in matches.items():
        if info.get("type") == "directory":
            files.update(fs.find(match_path, detail=True))
        else:
            files[match_path] = info
    return files


def _glob_root(pattern: str) -> str:
    """The directory part of a glob before its first wildcard: sources are relative to it."""
    parts = pattern.split("/")
    fixed = []
    for part in parts[:-1]:
        if has_magic(part):
            break
        fixed.append(part)
    return "/".join(fixed) or "/"


def _supported() -> str:
    return ", ".join(s for suffixes in FORMAT_SUFFIXES.values() for s in suffixes)
