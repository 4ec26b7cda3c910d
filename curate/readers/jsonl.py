"""JSONL reader: one JSON object per line, ``text`` required (Dolma / RedPajama style dumps).

Recognised keys: ``text`` (required, a string), ``id`` (kept as a string when non-empty),
``url``, ``fetch_time`` or ``date`` (ISO-8601). Other keys, ``source`` included, are dropped:
``source`` is always the input file. Compression (.gz, .zst, .bz2, .xz) is inferred from
the file name by fsspec. Line numbers are 1-based and count every line, blank ones too.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

from curate.contract import StageOutput
from curate.readers.batch import (
    MAX_PAYLOAD_BYTES,
    BatchBuilder,
    InputFile,
    error_detail,
    open_binary,
    parse_timestamp,
)
from curate.schema import document_id

_READ_CHUNK = 1 << 20


def read_jsonl(f: InputFile, batch_size: int = 256, max_line_bytes: int = MAX_PAYLOAD_BYTES) -> Iterator[StageOutput]:
    out = BatchBuilder(f.source, batch_size)
    try:
        fh = open_binary(f, compression="infer")
    except Exception as exc:
        out.file_error(locator="unreadable", reason="unreadable_file", detail=error_detail(exc, "open"))
        yield out.flush()
        return
    line_number = 0
    with fh:
        try:
            for line_number, line in enumerate(_lines(fh, max_line_bytes), start=1):
                _add_line(line, line_number, f.source, out, max_line_bytes)
                if out.full():
                    yield out.flush()
        except Exception as exc:
            # Broken compression or I/O error: the rest of the file is unreadable; what was
            # read so far stays.
            where = line_number + 1
            out.file_error(locator=f"corrupt@{where}", reason="corrupt_file", detail=error_detail(exc, f"line {where}"))
    yield out.flush()


def _lines(fh, max_bytes: int) -> Iterator[bytes | None]:
    """Each line without its newline, or None for a line longer than ``max_bytes``.

    Reads fixed-size chunks, so an oversized line is skipped without ever being held whole
    (compressed streams such as zstandard's have no readline of their own).
    """
    # read1 hands over what is decompressed so far: a stream that breaks off later (a cut
    # .gz) still yields its complete lines before the error.
    read = getattr(fh, "read1", fh.read)
    parts: list[bytes] = []
    held = 0
    oversized = False
    while True:
        chunk = read(_READ_CHUNK)
        if not chunk:
            break
        start = 0
        while True:
            newline = chunk.find(b"\n", start)
            end = len(chunk) if newline < 0 else newline
            piece = chunk[start:end]
            if not oversized and held + len(piece) > max_bytes:
                oversized, parts, held = True, [], 0
            if not oversized:
                parts.append(piece)
                held += len(piece)
            if newline < 0:
                break
            yield None if oversized else b"".join(parts)
            parts, held, oversized = [], 0, False
            start = newline + 1
    if parts or oversized:  # last line without a trailing newline
        yield None if oversized else b"".join(parts)


def _add_line(line: bytes | None, line_number: int, source: str, out: BatchBuilder, max_line_bytes: int) -> None:
    where = f"line {line_number}"
    if line is None:
        out.count("jsonl_lines_total")
        out.reject(locator=line_number, reason="payload_too_large", detail=f"{where}: >{max_line_bytes} bytes")
        return
    if line_number == 1 and line.startswith(b"\xef\xbb\xbf"):
        line = line[3:]  # UTF-8 byte-order mark
    if not line.strip():
        out.count("jsonl_blank_lines")  # not a document: no row
        return
    out.count("jsonl_lines_total")
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError:
        out.reject(locator=line_number, reason="undecodable_text", detail=where)
        return
    try:
        obj = json.loads(decoded)
    except (ValueError, RecursionError):
        out.reject(locator=line_number, reason="malformed_json", detail=where)
        return
    if not isinstance(obj, dict):
        out.reject(locator=line_number, reason="malformed_json", detail=f"{where}: not an object")
        return

    doc_id = _own_id(obj.get("id")) or document_id(source, line_number)
    url = obj.get("url") if isinstance(obj.get("url"), str) else None
    text = obj.get("text")
    if not isinstance(text, str):
        out.reject(locator=line_number, id=doc_id, url=_encodable(url), reason="missing_text", detail=where)
        return
    # JSON escapes can smuggle lone surrogates ("\ud800") that Arrow cannot store as UTF-8.
    if b"\\u" in line and _encodable(text) is None:
        out.reject(locator=line_number, id=_encodable(doc_id), url=_encodable(url), reason="undecodable_text", detail=where)
        return

    raw_time = obj.get("fetch_time", obj.get("date"))
    fetch_time = parse_timestamp(raw_time)
    if raw_time is not None and fetch_time is None:
        out.count("jsonl_bad_fetch_time")
    out.keep(id=_encodable(doc_id) or document_id(source, line_number), url=_encodable(url),
             fetch_time=fetch_time, text=text)


def _own_id(value: object) -> str | None:
    """A row's own id as a string, when it has a usable one (non-empty string or number)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int, float)):
        text = str(value)
        return text if text.strip() else None
    return None


def _encodable(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value
