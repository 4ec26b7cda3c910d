"""What every reader shares: the input-file record, opening it, and the batch builder.

Readers are generators of ``StageOutput``. A reader appends documents and reject rows to a
``BatchBuilder`` as it goes and yields ``builder.flush()`` whenever ``builder.full()``; the
last flush (always yielded, even when empty) carries the final counters. Counters are per
flush (deltas), so the runner may simply sum them over batches and files.
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass

import fsspec
import pyarrow as pa

from curate.contract import StageOutput, reject_rows
from curate.schema import DOCUMENT_SCHEMA, conform, document_id

READ_STAGE = "read"

# Upper bound of one document's raw bytes (an HTML payload, a JSONL line). Larger ones are
# rejected as payload_too_large: they are rarely prose and one of them can exhaust a worker.
MAX_PAYLOAD_BYTES = 20 * 2**20

# A batch is also flushed once its payload bytes reach this, so a batch of large pages
# stays well below a worker's memory even when batch_size is generous.
MAX_BATCH_BYTES = 64 * 2**20

_DOCUMENT_COLUMNS = [f.name for f in DOCUMENT_SCHEMA]
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")
_HHMM_OFFSET = re.compile(r"(T.*[+-]\d\d)(\d\d)$")
_ORDINAL_DAY = re.compile(r"^(\d{4})-\d{2}-(\d{3})(?=T)")


@dataclass(frozen=True)
class InputFile:
    """One input file as the runner hands it to a read task."""

    uri: str  # what fsspec/pyarrow opens: a local absolute path or a URI
    source: str  # stable name stored in the `source` column (see listing.py)
    size: int  # bytes
    format: str  # "warc" | "jsonl" | "parquet"


def open_binary(f: InputFile, compression: str | None = None):
    """Open ``f`` for binary reading through fsspec (local paths and any fsspec URI)."""
    return fsspec.open(f.uri, "rb", compression=compression).open()


def error_detail(exc: BaseException, where: str) -> str:
    """A text-free detail for a failure: the exception class and where it happened.

    The exception message is left out on purpose: parsers quote the offending bytes, and
    reject rows must never carry document text.
    """
    return f"{type(exc).__name__} at {where}"


def parse_timestamp(value: object) -> dt.datetime | None:
    """An ISO-8601 string (or datetime) as an aware UTC datetime; None when unparseable.

    Naive values are taken as UTC, which is what WARC-Date and crawl dumps mean.
    """
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        # Python 3.10's fromisoformat takes at most 6 fractional digits (WARC allows 9),
        # and no "+hhmm" offsets.
        text = _HHMM_OFFSET.sub(r"\1:\2", _LONG_FRACTION.sub(r"\1", text))
        ordinal = _ORDINAL_DAY.match(text)
        if ordinal:
            # ClueWeb09's WARC-Dates carry the day of the year: 2008-10-294T05:21:46-0700.
            year, day = int(ordinal[1]), int(ordinal[2])
            if not 1 <= day <= (366 if calendar.isleap(year) else 365):
                return None
            text = (dt.date(year, 1, 1) + dt.timedelta(days=day - 1)).isoformat() + text[ordinal.end():]
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


class BatchBuilder:
    """Accumulates documents and reject rows of one input file into StageOutput batches."""

    def __init__(self, source: str, batch_size: int, max_batch_bytes: int = MAX_BATCH_BYTES):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.source = source
        self.batch_size = batch_size
        self.max_batch_bytes = max_batch_bytes
        self.counters: Counter[str] = Counter()
        self._reset()

    def _reset(self) -> None:
        self._columns: dict[str, list] = {name: [] for name in _DOCUMENT_COLUMNS}
        self._rejects: dict[str, list] = {"id": [], "url": [], "reason": [], "detail": []}
        self._bytes = 0

    def keep(self, *, id: str, url: str | None = None, fetch_time: dt.datetime | None = None,
             warc_record_id: str | None = None, content_type: str | None = None,
             charset: str | None = None, html: bytes | None = None, text: str | None = None) -> None:
        row = dict(id=id, url=url, source=self.source, fetch_time=fetch_time, warc_record_id=warc_record_id,
                   content_type=content_type, charset=charset, html=html, text=text)
        for name in _DOCUMENT_COLUMNS:
            self._columns[name].append(row[name])
        self._bytes += len(html or b"") + len(text or "")
        self.counters["documents_read"] += 1

    def reject(self, *, locator: str | int, reason: str, detail: str | None = None,
               url: str | None = None, id: str | None = None) -> None:
        """A reject row for the input at ``locator``; ``id`` overrides the derived id."""
        self._rejects["id"].append(id if id else document_id(self.source, locator))
        self._rejects["url"].append(url)
        self._rejects["reason"].append(reason)
        self._rejects["detail"].append(detail)

    def file_error(self, *, locator: str, reason: str, detail: str | None = None) -> None:
        """A reject row standing for a part of the file that could not be read at all.

        Counted as ``file_errors`` so that documents + rejects - file_errors is the number
        of records/lines/rows actually seen: the check the tests and the card can make.
        """
        self.reject(locator=locator, reason=reason, detail=detail)
        self.counters["file_errors"] += 1

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    @property
    def rows(self) -> int:
        return len(self._columns["id"]) + len(self._rejects["id"])

    def full(self) -> bool:
        return self.rows >= self.batch_size or self._bytes >= self.max_batch_bytes

    def flush(self) -> StageOutput:
        kept = conform(pa.Table.from_pydict(self._columns, schema=DOCUMENT_SCHEMA), DOCUMENT_SCHEMA)
        n = len(self._rejects["id"])
        identity = pa.table({
            "id": pa.array(self._rejects["id"], type=pa.string()),
            "url": pa.array(self._rejects["url"], type=pa.string()),
            "source": pa.array([self.source] * n, type=pa.string()),
        })
        rejected = reject_rows(identity, stage=READ_STAGE, reasons=self._rejects["reason"],
                               details=self._rejects["detail"])
        out = StageOutput(kept=kept, rejected=rejected, counters={k: float(v) for k, v in self.counters.items()})
        self.counters = Counter()
        self._reset()
        return out
