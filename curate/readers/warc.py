"""WARC / ARC / WET reader: HTML responses (and WET text) out of web archives, via warcio.

Which records become documents:

* ``response`` records whose HTTP payload is HTML (declared ``text/html`` or
  ``application/xhtml+xml``, or sniffed when the declared type is missing, generic or
  ``text/plain``), and ``resource`` records of the same kinds -> ``html`` set, ``text`` null;
* WET ``conversion`` records -> ``text`` (the payload as UTF-8), ``html`` null.

Every other response/resource/conversion becomes a reject row with a reason; request,
metadata, warcinfo, revisit and continuation records are not documents and are only counted.
Where warcio cannot go on reading, the unreadable stretch becomes one reject row
(``corrupt_record`` / ``corrupt_gzip``) and reading resumes at the next gzip member (or
``WARC/1.`` line) that parses as a record; ARC files stop there. A whole-file gzip (one gzip
member holding many records) is valid, just not seekable: it is read on through gunzip.

Document ids are ``document_id(source, offset)`` with the record's byte offset in the file
(its gzip member's offset for .gz), or ``"gunzip:<offset>"`` in the decompressed stream for
records reached through the whole-file-gzip repair.
"""
from __future__ import annotations

import gzip
import zlib
from typing import Generator, Iterator

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader
from warcio.exceptions import ArchiveLoadFailed

from curate.readers.batch import (
    MAX_PAYLOAD_BYTES,
    BatchBuilder,
    InputFile,
    error_detail,
    open_binary,
    parse_timestamp,
)
from curate.readers.sniff import (
    HTML_MEDIA_TYPES,
    SNIFFED_MEDIA_TYPES,
    declared_charset,
    looks_like_html,
    parse_content_type,
)
from curate.schema import document_id
from curate.stages.base import StageOutput

DOCUMENT_RECORD_TYPES = ("response", "resource", "conversion")
# Not documents: counted under warc_records_skipped_<type> (anything else: ..._other).
SKIPPED_RECORD_TYPES = ("request", "metadata", "warcinfo", "revisit", "continuation")

# Compressions warcio cannot read; found by magic bytes so a misnamed file is caught too.
UNSUPPORTED_MAGIC = {b"\x04\x22\x4d\x18": "lz4", b"\x28\xb5\x2f\xfd": "zstd", b"BZh": "bzip2", b"\xfd7zXZ": "xz"}
_READ_CHUNK = 1 << 16
_SCAN_CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b\x08"
# Places tried when looking for the next record after a corrupt stretch; a real record
# boundary is almost always the first one, so this only bounds pathological files.
MAX_RESYNC_CANDIDATES = 1000

# What a pass over the archive ends with: records seen, and the failure (exception, locator).
PassResult = tuple[int, "tuple[Exception, str] | None"]


def read_warc(f: InputFile, batch_size: int = 256, max_payload_bytes: int = MAX_PAYLOAD_BYTES) -> Iterator[StageOutput]:
    out = BatchBuilder(f.source, batch_size)
    try:
        fh = open_binary(f)
    except Exception as exc:  # missing, permission denied, bad URI ...
        out.file_error(locator="unreadable", reason="unreadable_file", detail=error_detail(exc, "open"))
        yield out.flush()
        return
    with fh:
        try:
            head = fh.read(1024)
            fh.seek(0)
            compression = _unsupported_compression(head)
            if compression:
                out.file_error(locator="unsupported", reason="unsupported_compression", detail=compression)
            else:
                yield from _read_archive(fh, head, f.source, out, max_payload_bytes)
        except Exception as exc:  # an I/O error mid-file (network filesystem, disk)
            out.file_error(locator="io_error", reason="unreadable_file", detail=error_detail(exc, "read"))
    yield out.flush()


def _read_archive(fh, head: bytes, source: str, out: BatchBuilder, max_payload_bytes: int) -> Iterator[StageOutput]:
    """All records of an open archive, getting past what warcio cannot parse where it is safe."""
    is_arc = _is_arc(head)
    seen, failure = yield from _read_pass(fh, source, out, max_payload_bytes, is_arc=is_arc)
    if failure and _is_whole_file_gzip(failure[0]):
        # Valid gzip, just not one member per record: decompress the whole stream and go on
        # after the records the first pass already handled.
        out.count("warc_gzip_resyncs")
        fh.seek(0)
        with gzip.GzipFile(fileobj=fh) as unzipped:
            _, failure = yield from _read_pass(unzipped, source, out, max_payload_bytes,
                                              is_arc=is_arc, skip=seen, prefix="gunzip:")
        if failure:
            _reject_corrupt(out, failure)
        return
    candidates_left = MAX_RESYNC_CANDIDATES
    while failure:
        _reject_corrupt(out, failure)  # one row for the unreadable stretch
        if is_arc:
            return  # ARC headers are bare text lines: no marker to find the next record by
        # Resume at the next gzip member (or "WARC/1." line) that parses as a record.
        position = int(failure[1]) + 1
        failure = None
        while candidates_left > 0:
            candidates_left -= 1
            start = _next_record_start(fh, position, gzipped=head.startswith(GZIP_MAGIC))
            if start is None:
                return
            fh.seek(start)
            seen, failure = yield from _read_pass(fh, source, out, max_payload_bytes, is_arc=False)
            if seen or not failure:
                out.count("warc_resyncs")
                break
            position, failure = start + 1, None  # not a record after all: look further


def _reject_corrupt(out: BatchBuilder, failure: tuple[Exception, str]) -> None:
    exc, locator = failure
    out.file_error(locator=f"corrupt@{locator}", reason=_corruption_reason(exc),
                   detail=error_detail(exc, f"byte {locator}"))


def _next_record_start(fh, position: int, gzipped: bool) -> int | None:
    """Offset of the next gzip member / WARC header line at or after ``position``, or None."""
    marker = GZIP_MAGIC if gzipped else b"\nWARC/1."
    skip = 0 if gzipped else 1  # the record starts after the newline
    fh.seek(position)
    carry, carry_at = b"", position
    while chunk := fh.read(_SCAN_CHUNK):
        window = carry + chunk
        found = window.find(marker)
        if found >= 0:
            return carry_at + found + skip
        carry = window[-(len(marker) - 1):]
        carry_at += len(window) - len(carry)
    return None


def _unsupported_compression(head: bytes) -> str | None:
    for magic, name in UNSUPPORTED_MAGIC.items():
        if head.startswith(magic):
            return name
    return None


def _is_arc(head: bytes) -> bool:
    """ARC files open with a "filedesc://" header line (the first gzip member's, for .arc.gz)."""
    if head.startswith(GZIP_MAGIC):
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head)
        except zlib.error:
            return False
    return head.startswith(b"filedesc://")


def _read_pass(fh, source: str, out: BatchBuilder, max_payload_bytes: int, *, is_arc: bool, skip: int = 0,
               prefix: str = "") -> Generator[StageOutput, None, PassResult]:
    """Read records from ``fh`` into ``out``, ignoring the first ``skip``; yields full batches."""
    archive = ArchiveIterator(fh, arc2warc=True)
    records = iter(archive)
    seen = 0
    try:
        while True:
            try:
                record = next(records)
            except StopIteration:
                return seen, None
            except Exception as exc:
                # archive.offset is where the failing record starts (the previous one was consumed).
                return seen, (exc, f"{prefix}{archive.offset}")
            seen += 1
            if seen <= skip:
                continue
            # Right after next(), archive.offset is the start of this record: stable across
            # runs, so it is the record's id locator.
            locator = f"{prefix}{archive.offset}"
            out.count("warc_records_total")
            rec_type = record.rec_type
            if rec_type in DOCUMENT_RECORD_TYPES:
                out.count(f"warc_records_{rec_type}")
                try:
                    _add_record(record, locator, source, out, max_payload_bytes, is_arc)
                except Exception as exc:
                    # A payload that fails to decode; the record boundaries are intact, so go on.
                    out.reject(locator=locator, url=_target_uri(record), reason="corrupt_record",
                               detail=error_detail(exc, f"byte {locator}"))
            elif rec_type in SKIPPED_RECORD_TYPES:
                out.count(f"warc_records_skipped_{rec_type}")
            else:
                out.count("warc_records_skipped_other")
            if out.full():
                yield out.flush()
    finally:
        if archive.err_count:
            # Records not followed by the blank lines their length implies (warcio warns, re-syncs).
            out.count("warc_length_warnings", archive.err_count)
            archive.err_count = 0


def _is_whole_file_gzip(exc: Exception) -> bool:
    return isinstance(exc, ArchiveLoadFailed) and "non-chunked gzip" in str(exc)


def _corruption_reason(exc: Exception) -> str:
    if _is_whole_file_gzip(exc) or isinstance(exc, (zlib.error, EOFError, gzip.BadGzipFile)):
        return "corrupt_gzip"
    return "corrupt_record"


def _add_record(record, locator: str, source: str, out: BatchBuilder, max_payload_bytes: int, is_arc: bool) -> None:
    """One response/resource/conversion record -> a document or a reject row."""
    url = _target_uri(record)
    headers = record.rec_headers
    fetch_time = parse_timestamp(headers.get_header("WARC-Date"))
    if fetch_time is None:
        out.count("warc_bad_dates")
    # ARC records have no id; warcio's conversion makes up a random one, which would make
    # reruns differ: store none.
    record_id = None if is_arc else headers.get_header("WARC-Record-ID")

    if record.rec_type == "conversion":
        media_type, charset = "text/plain", "utf-8"
    elif record.rec_type == "response":
        http = record.http_headers
        media_type, charset = parse_content_type(http.get_header("Content-Type") if http else None)
        if media_type in HTML_MEDIA_TYPES:
            # The figure SOURCE.md calls "HTML responses": a response whose HTTP header says HTML.
            out.count("warc_responses_html_declared")
        encoding = (http.get_header("Content-Encoding") or "").strip().lower() if http else ""
        if encoding and encoding != "identity" and encoding not in BufferedReader.get_supported_decompressors():
            # warcio would hand back the still-compressed bytes.
            out.reject(locator=locator, url=url, reason="unsupported_content_encoding", detail=encoding)
            return
    else:  # resource: the block is the payload, typed by the record's own Content-Type
        media_type, charset = parse_content_type(headers.get_header("Content-Type"))

    declared_html = media_type in HTML_MEDIA_TYPES
    if record.rec_type != "conversion" and not declared_html and media_type not in SNIFFED_MEDIA_TYPES:
        out.reject(locator=locator, url=url, reason="non_html_payload", detail=media_type)
        return

    payload = _read_at_most(record.content_stream(), max_payload_bytes)
    if payload is None:
        out.reject(locator=locator, url=url, reason="payload_too_large", detail=f">{max_payload_bytes} bytes")
        return
    missing = _bytes_missing(record)
    if missing:
        if not _http_body_complete(record, len(payload)):
            out.reject(locator=locator, url=url, reason="truncated_record",
                       detail=f"record block {missing} bytes short of Content-Length at byte {locator}")
            return
        # The file ends before the declared record length, yet the HTTP body is whole: the
        # archive's length field overstates (seen in hand-edited ARC files). Keep the page.
        out.count("warc_records_short_but_complete")
    if not payload.strip():
        out.reject(locator=locator, url=url, reason="empty_payload", detail=media_type or None)
        return

    if record.rec_type == "conversion":
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            out.reject(locator=locator, url=url, reason="undecodable_text", detail=error_detail(exc, f"byte {locator}"))
            return
        out.keep(id=document_id(source, locator), url=url, fetch_time=fetch_time, warc_record_id=record_id,
                 content_type=media_type, charset=charset, text=text)
        out.count("warc_documents_conversion")
        return

    if not declared_html:
        if not looks_like_html(payload):
            out.reject(locator=locator, url=url, reason="non_html_payload", detail=media_type or "missing")
            return
        out.count("warc_payloads_sniffed_html")
    out.keep(id=document_id(source, locator), url=url, fetch_time=fetch_time, warc_record_id=record_id,
             content_type=media_type or None, charset=declared_charset(charset, payload), html=payload)
    out.count(f"warc_documents_{record.rec_type}")


def _target_uri(record) -> str | None:
    # warcio already strips the <...> wget adds and replaces spaces with %20.
    uri = (record.rec_headers.get_header("WARC-Target-URI") or "").strip()
    return uri or None


def _read_at_most(stream, limit: int) -> bytes | None:
    """The whole stream, or None as soon as it proves longer than ``limit`` bytes."""
    chunks, total = [], 0
    while True:
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            return None


def _bytes_missing(record) -> int:
    """Bytes of the record block the file does not have (the file or gzip member ended early)."""
    raw = record.raw_stream
    while raw.read(_READ_CHUNK):  # what the payload decoder left unread (e.g. chunk trailers)
        pass
    return max(getattr(raw, "limit", 0), 0)


def _http_body_complete(record, payload_length: int) -> bool:
    """True when the HTTP Content-Length is known and the (unencoded) body reached it."""
    http = record.http_headers
    if http is None or http.get_header("Content-Encoding") or http.get_header("Transfer-Encoding"):
        return False  # the decoded length cannot be compared with the header: assume the worst
    try:
        declared = int(http.get_header("Content-Length") or "")
    except ValueError:
        return False
    return payload_length >= declared
