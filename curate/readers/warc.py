"""WARC / ARC / WET reader: HTML responses (and WET text) out of web archives, via warcio.

Which records become documents:

* ``response`` records whose HTTP payload is HTML (declared ``text/html`` or
  ``application/xhtml+xml``, or sniffed when the declared type is missing, generic or
  ``text/plain``), and ``resource`` records of the same kinds -> ``html`` set, ``text`` null;
* WET ``conversion`` records -> ``text`` (the payload as UTF-8), ``html`` null.

Every other response/resource/conversion becomes a reject row with a reason; request,
metadata, warcinfo, revisit and continuation records are not documents and are only counted.

A record's row is written only once its end has been checked: its block must be followed by
blank lines and then the next record (a few stray bytes are tolerated, see
``LENGTH_SLACK_BYTES``). A record whose Content-Length disagrees with where the next record
starts becomes one ``corrupt_record`` row under its own id, and reading resumes at the next
record after its start (the next gzip member, or ``WARC/1.`` line, that parses as a record),
so a length that is too long does not swallow the records behind it. Where warcio cannot parse
a record at all, the unreadable stretch becomes one row (``corrupt_record`` / ``corrupt_gzip``)
and reading resumes the same way; plain ARC files stop there. A record cut off by the end of
the input is a ``truncated_record``. A whole-file gzip (one gzip member holding many records)
is valid, just not seekable: it is read on through gunzip.

Document ids are ``document_id(source, offset)`` with the record's byte offset in the file
(its gzip member's offset for .gz), or ``"gunzip:<offset>"`` in the decompressed stream for
records reached through the whole-file-gzip repair.
"""
from __future__ import annotations

import gzip
import io
import logging
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader, DecompressingBufferedReader
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecordLoader

from curate.contract import StageOutput
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

DOCUMENT_RECORD_TYPES = ("response", "resource", "conversion")
# Not documents: counted under warc_records_skipped_<type> (anything else: ..._other).
SKIPPED_RECORD_TYPES = ("request", "metadata", "warcinfo", "revisit", "continuation")

# Compressions warcio cannot read; found by magic bytes so a misnamed file is caught too.
FOREIGN_MAGIC = {b"\x04\x22\x4d\x18": "lz4", b"\x28\xb5\x2f\xfd": "zstd", b"BZh": "bzip2", b"\xfd7zXZ": "xz"}
_READ_CHUNK = 1 << 16
_SCAN_CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b\x08"
# Stray bytes tolerated between a record's block and the blank lines after it: writers that
# leave a few bytes out of Content-Length (warcio/example-trunc.warc: part of a gzip trailer)
# still give a whole page. More than this, and the length is wrong and the payload cut.
LENGTH_SLACK_BYTES = 16


class ContentLengthMismatch(Exception):
    """A record's Content-Length does not end where the next record (or the input) starts."""


@dataclass
class _Stream:
    """What a pass reads: the file itself, or its gunzipped content (whole-file gzip)."""

    fh: object
    members: bool  # gzip, one member per record: records are found by member
    prefix: str = ""  # locator prefix: "gunzip:" for offsets in the decompressed stream


@dataclass
class _Row:
    """What a record becomes, held back until the record's end has been checked."""

    keep: bool
    fields: dict
    counters: tuple[str, ...] = ()

    def emit(self, out: BatchBuilder) -> None:
        (out.keep if self.keep else out.reject)(**self.fields)
        for name in self.counters:
            out.count(name)


@dataclass
class _Stop:
    """Why a pass ended before the end of its stream, and where."""

    kind: str  # "unreadable" (nothing parses here) | "bad" (record's end is wrong) | "short" | "whole_file_gzip"
    offset: int
    exc: Exception
    candidate: bool = False  # the record at offset is a response/resource/conversion
    url: str | None = None
    row: _Row | None = None  # "short": what the record is when nothing follows it
    seen: int = 0


class _UriWithheld(logging.Filter):
    """warcio logs the raw WARC-Target-URI it repairs ("Replacing spaces in invalid
    WARC-Target-URI: ..."). A URI can carry an address or a token, and no raw URL may reach a
    log: the message stays, the URI does not."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "WARC-Target-URI" in message:
            record.msg, record.args = message.split(":", 1)[0] + " (the URI is withheld)", ()
        return True


logging.getLogger("warcio.recordloader").addFilter(_UriWithheld())


class _Archive(ArchiveIterator):
    """warcio's iterator, remembering what lies between a record's block and the next record.

    warcio skips one non-blank line there with a warning and parses the next one as a
    record, whatever it is; a WARC reader needs to know, to tell a wrong Content-Length.
    """

    def __init__(self, fileobj, *, is_arc: bool):
        super().__init__(fileobj, arc2warc=True)
        self.is_arc = is_arc
        self.stray_bytes = 0
        self.misaligned = False

    def _consume_blanklines(self):
        self.stray_bytes, self.misaligned = 0, False
        if self.is_arc:  # ARC headers are bare text lines: nothing to tell them from stray bytes by
            return self._consume_arc_blanklines()
        empty_size, first_line = 0, True
        while True:
            line = self.reader.readline()
            if not line:
                return None, empty_size
            if line.startswith(b"WARC/"):
                return line, empty_size
            if line.rstrip():
                if not first_line:
                    # Beyond a stray line right after the block: the next record is not where
                    # the length says. Hand the line on; the reader stops here anyway.
                    self.misaligned = True
                    return line, empty_size
                self.stray_bytes = len(line)
                self.err_count += 1
            empty_size += len(line)
            first_line = False

    def _consume_arc_blanklines(self):
        """warcio's own loop, less its stderr warning: that prints the stray line itself (an ARC
        header: URL, IP address), which must not reach a log. The count stays in ``err_count``."""
        empty_size, first_line = 0, True
        while True:
            line = self.reader.readline()
            if not line:
                return None, empty_size
            if not line.rstrip() or first_line:
                empty_size += len(line)
                if line.rstrip():
                    self.err_count += 1
                first_line = False
                continue
            return line, empty_size


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
            compression = _foreign_compression(head)
            if compression:
                # LZ4 (one frame per record, as resiliparse writes), zstd, bzip2, xz: read through a
                # seekable decompressed view, so every record inside is read and counted
                stream = _Decompressed(fh, compression)
                head = stream.read(1024)
                stream.seek(0)
                out.count(f"warc_files_{compression}")
                yield from _read_archive(stream, head, f.source, out, max_payload_bytes)
            else:
                yield from _read_archive(fh, head, f.source, out, max_payload_bytes)
        except Exception as exc:  # an I/O error mid-file (network filesystem, disk)
            out.file_error(locator="io_error", reason="unreadable_file", detail=error_detail(exc, "read"))
    yield out.flush()


def _read_archive(fh, head: bytes, source: str, out: BatchBuilder, max_payload_bytes: int) -> Iterator[StageOutput]:
    """All records of an open archive, getting past what warcio cannot parse where it is safe."""
    is_arc = _is_arc(head)
    stream = _Stream(fh, members=head.startswith(GZIP_MAGIC))
    start, skip = 0, 0
    while True:
        stop = yield from _read_pass(stream, start, source, out, max_payload_bytes, is_arc=is_arc, skip=skip)
        skip = 0
        if stop is None:
            return
        if stop.kind == "whole_file_gzip" and start == 0 and not stream.prefix:
            # Valid gzip, just not one member per record: decompress the whole stream and go on
            # after the records this pass handled.
            out.count("warc_gzip_resyncs")
            fh.seek(0)
            stream, skip = _Stream(gzip.GzipFile(fileobj=fh), members=False, prefix="gunzip:"), stop.seen
            continue
        # Every resumption starts after the place the pass stopped at, and a pass never stops
        # before its start: reading always moves forward and ends.
        resume = _find_next_record(stream, stop.offset + 1, is_arc)
        if resume is None and stream.members and stop.offset == 0 and not is_arc:
            # The first record of what may be a whole-file gzip is damaged: look on in the
            # decompressed stream, where the other records are.
            fh.seek(0)
            unzipped = _Stream(gzip.GzipFile(fileobj=fh), members=False, prefix="gunzip:")
            resume = _find_next_record(unzipped, 1, is_arc)
            _settle(out, stop, stream, resumed=resume is not None)
            stream = unzipped
        else:
            _settle(out, stop, stream, resumed=resume is not None)
        if out.full():
            yield out.flush()
        if resume is None:
            return
        out.count("warc_resyncs")
        start = resume


def _settle(out: BatchBuilder, stop: _Stop, stream: _Stream, resumed: bool) -> None:
    """The one row a stop stands for."""
    locator = f"{stream.prefix}{stop.offset}"
    if stop.kind == "short" and not resumed:
        # Nothing after it: the input ends inside the record (or its length overstates the end).
        if stop.row is not None:
            stop.row.emit(out)
        return
    if stop.kind in ("bad", "short") and stop.candidate:
        out.reject(locator=locator, url=stop.url, reason=_corruption_reason(stop.exc),
                   detail=error_detail(stop.exc, f"byte {locator}"))
    else:  # an unreadable stretch, or a damaged record that is not a document
        out.file_error(locator=f"corrupt@{locator}", reason=_corruption_reason(stop.exc),
                       detail=error_detail(stop.exc, f"byte {locator}"))


def _find_next_record(stream: _Stream, position: int, is_arc: bool) -> int | None:
    """Offset of the first gzip member / WARC header line at or after ``position`` that parses
    as a record, or None."""
    if is_arc and not stream.members:
        return None  # ARC headers are bare text lines: no marker to find the next record by
    try:
        while (start := _next_record_start(stream.fh, position, gzipped=stream.members)) is not None:
            if _parses_as_record(stream.fh, start, gzipped=stream.members, is_arc=is_arc):
                return start
            position = start + 1
    except (OSError, EOFError, zlib.error):  # a cut or damaged gzip stream ends the search
        pass
    return None


_PROBE_LOADER = ArcWarcRecordLoader(verify_http=False, arc2warc=False)


def _parses_as_record(fh, start: int, gzipped: bool, is_arc: bool) -> bool:
    # GzipFile seeks backwards by decompressing again from the start: slow, but only damaged
    # whole-file gzips get here.
    fh.seek(start)
    reader = DecompressingBufferedReader(fh) if gzipped else BufferedReader(fh)
    try:
        record = _PROBE_LOADER.parse_record_stream(reader)
    except Exception:
        return False
    return record.format == ("arc" if is_arc else "warc")


def _next_record_start(fh, position: int, gzipped: bool) -> int | None:
    """Offset of the next gzip member / WARC header line at or after ``position``, or None."""
    marker = GZIP_MAGIC if gzipped else b"\nWARC/1."
    skip = 0 if gzipped else 1  # the record starts after the newline
    position = max(position - skip, 0)  # a header line right at ``position`` counts
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


def _open_decompressor(fh, compression: str):
    if compression == "lz4":
        import lz4.frame

        return lz4.frame.LZ4FrameFile(fh, "rb")  # reads concatenated frames
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True, closefd=False)
    if compression == "bzip2":
        import bz2

        return bz2.BZ2File(fh, "rb")  # multi-stream
    import lzma

    return lzma.LZMAFile(fh, "rb")


class _Decompressed(io.RawIOBase):
    """A seekable, read-only view of a compressed file's decompressed bytes.

    Forward seeks read ahead; a backward seek (the reader's resync after a damaged record)
    starts decompressing again from the top, as GzipFile does.
    """

    def __init__(self, fh, compression: str):
        super().__init__()
        self.fh, self.compression = fh, compression
        self._restart()

    def _restart(self) -> None:
        self.fh.seek(0)
        self.reader = _open_decompressor(self.fh, self.compression)
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.reader.read() if size is None or size < 0 else self.reader.read(size)
        self.position += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self.position
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("seek from the end of a compressed stream")
        if offset < self.position:
            self._restart()
        while self.position < offset and self.read(min(1 << 20, offset - self.position)):
            pass
        return self.position


def _foreign_compression(head: bytes) -> str | None:
    """The compression warcio cannot read itself (read here through ``_Decompressed``), or None."""
    for magic, name in FOREIGN_MAGIC.items():
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


def _read_pass(stream: _Stream, start: int, source: str, out: BatchBuilder, max_payload_bytes: int, *, is_arc: bool,
               skip: int = 0) -> Generator[StageOutput, None, _Stop | None]:
    """Read records from ``start`` into ``out``, ignoring the first ``skip``; yields full batches.

    Returns None at the end of the stream, else where and why it stopped. It stops at the
    first record whose end is not where its length says: warcio's offsets past such a record
    mix compressed and decompressed positions and cannot be trusted.
    """
    stream.fh.seek(start)
    archive = _Archive(stream.fh, is_arc=is_arc)
    records = iter(archive)
    seen = 0
    try:
        while True:
            try:
                record = next(records)
            except StopIteration:
                return None
            except Exception as exc:
                kind = "whole_file_gzip" if _is_whole_file_gzip(exc) else "unreadable"
                # archive.offset is where the failing record starts (the previous one ended cleanly).
                return _Stop(kind, max(archive.offset, start), exc, seen=seen)
            seen += 1
            if seen <= skip:
                continue
            # Right after next(), archive.offset is the start of this record: stable across
            # runs, so it is the record's id locator.
            offset = archive.offset
            locator = f"{stream.prefix}{offset}"
            out.count("warc_records_total")
            rec_type = record.rec_type
            row = None
            if rec_type in DOCUMENT_RECORD_TYPES:
                out.count(f"warc_records_{rec_type}")
                try:
                    row = _add_record(record, locator, source, out, max_payload_bytes, is_arc)
                except Exception as exc:
                    # A payload that fails to decode; the record boundaries are checked below.
                    row = _Row(False, dict(locator=locator, url=_target_uri(record), reason="corrupt_record",
                                           detail=error_detail(exc, f"byte {locator}")))
            elif rec_type in SKIPPED_RECORD_TYPES:
                out.count(f"warc_records_skipped_{rec_type}")
            else:
                out.count("warc_records_skipped_other")
            end = _record_end(archive, record) or _swallowed_record(stream, offset, archive, is_arc)
            if end is not None:
                kind, exc = end
                return _Stop(kind, offset, exc, candidate=rec_type in DOCUMENT_RECORD_TYPES,
                             url=_target_uri(record), row=row, seen=seen)
            if row is not None:
                row.emit(out)
            if out.full():
                yield out.flush()
    finally:
        if archive.err_count:
            # Records followed by a few stray bytes before the blank lines (tolerated).
            out.count("warc_length_warnings", archive.err_count)
            archive.err_count = 0


def _record_end(archive: _Archive, record) -> tuple[str, Exception] | None:
    """None when the record ends where its Content-Length says, else ("bad" | "short", why)."""
    try:
        archive.read_to_end()  # the rest of the block, and the blank lines after it
    except Exception as exc:
        return "bad", exc
    if getattr(record.raw_stream, "limit", 0) > 0:
        # The file or gzip member ended inside the block: a cut-off record, unless a record
        # follows (the caller looks).
        return "short", ContentLengthMismatch()
    if archive.misaligned or archive.stray_bytes > LENGTH_SLACK_BYTES:
        return "bad", ContentLengthMismatch()
    return None


def _swallowed_record(stream: _Stream, offset: int, archive: _Archive, is_arc: bool) -> tuple[str, Exception] | None:
    """("bad", why) when a record starts inside the block of the record at ``offset``, else None.

    A few stray bytes after a block also come from a length that is too long and happens to
    end just short of a line end in a later record; that record must not go unread. (A gzip
    member holds one record: its block cannot reach into the next.)
    """
    if not archive.stray_bytes or stream.members:
        return None
    here = stream.fh.tell()
    try:
        inside = _find_next_record(stream, offset + 1, is_arc)
    finally:
        stream.fh.seek(here)
    return ("bad", ContentLengthMismatch()) if inside is not None and inside < archive.offset else None


def _is_whole_file_gzip(exc: Exception) -> bool:
    return isinstance(exc, ArchiveLoadFailed) and "non-chunked gzip" in str(exc)


def _corruption_reason(exc: Exception) -> str:
    if _is_whole_file_gzip(exc) or isinstance(exc, (zlib.error, EOFError, gzip.BadGzipFile)):
        return "corrupt_gzip"
    return "corrupt_record"


def _add_record(record, locator: str, source: str, out: BatchBuilder, max_payload_bytes: int, is_arc: bool) -> _Row:
    """One response/resource/conversion record -> what it becomes: a document or a reject row."""
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
            return _Row(False, dict(locator=locator, url=url, reason="unsupported_content_encoding", detail=encoding))
    else:  # resource: the block is the payload, typed by the record's own Content-Type
        media_type, charset = parse_content_type(headers.get_header("Content-Type"))

    declared_html = media_type in HTML_MEDIA_TYPES
    if record.rec_type != "conversion" and not declared_html and media_type not in SNIFFED_MEDIA_TYPES:
        return _Row(False, dict(locator=locator, url=url, reason="non_html_payload", detail=media_type))

    payload = _read_at_most(record.content_stream(), max_payload_bytes)
    if payload is None:
        return _Row(False, dict(locator=locator, url=url, reason="payload_too_large", detail=f">{max_payload_bytes} bytes"))
    counters: tuple[str, ...] = ()
    missing = _bytes_missing(record)
    if missing:
        if not _http_body_complete(record, len(payload)):
            return _Row(False, dict(locator=locator, url=url, reason="truncated_record",
                                    detail=f"record block {missing} bytes short of Content-Length at byte {locator}"))
        # The file ends before the declared record length, yet the HTTP body is whole: the
        # archive's length field overstates (seen in hand-edited ARC files). Keep the page.
        counters += ("warc_records_short_but_complete",)
    if not payload.strip():
        return _Row(False, dict(locator=locator, url=url, reason="empty_payload", detail=media_type or None), counters)

    if record.rec_type == "conversion":
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _Row(False, dict(locator=locator, url=url, reason="undecodable_text",
                                    detail=error_detail(exc, f"byte {locator}")), counters)
        return _Row(True, dict(id=document_id(source, locator), url=url, fetch_time=fetch_time,
                               warc_record_id=record_id, content_type=media_type, charset=charset, text=text),
                    counters + ("warc_documents_conversion",))

    if not declared_html:
        if not looks_like_html(payload):
            return _Row(False, dict(locator=locator, url=url, reason="non_html_payload", detail=media_type or "missing"),
                        counters)
        counters += ("warc_payloads_sniffed_html",)
    return _Row(True, dict(id=document_id(source, locator), url=url, fetch_time=fetch_time, warc_record_id=record_id,
                           content_type=media_type or None, charset=declared_charset(charset, payload), html=payload),
                counters + (f"warc_documents_{record.rec_type}",))


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
