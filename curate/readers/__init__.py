"""Input readers: corpus listing and streaming WARC/ARC/WET, JSONL and Parquet reading.

The runner lists a corpus once on the driver (``list_inputs_with_skipped``) and calls
``read_file`` inside read tasks. ``read_file`` never raises for a bad input: whatever cannot
be read becomes reject rows (stage "read") with a reason, and the documents read before a
failure are kept. Every batch it yields is a ``StageOutput`` whose ``kept`` has exactly
``DOCUMENT_SCHEMA``; its counters are deltas to be summed.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator

from curate.contract import StageOutput
from curate.readers.batch import MAX_PAYLOAD_BYTES, BatchBuilder, InputFile, open_binary
from curate.readers.jsonl import read_jsonl
from curate.readers.listing import detect_format, list_inputs, list_inputs_with_skipped
from curate.readers.parquet import read_parquet
from curate.readers.warc import read_warc

__all__ = [
    "InputFile",
    "MAX_PAYLOAD_BYTES",
    "detect_format",
    "list_inputs",
    "list_inputs_with_skipped",
    "read_file",
    "sha256_of",
]


def read_file(f: InputFile, batch_size: int = 256, *, max_payload_bytes: int = MAX_PAYLOAD_BYTES) -> Iterator[StageOutput]:
    """Stream ``f`` as batches of at most ``batch_size`` rows (documents + reject rows)."""
    if f.format == "warc":
        yield from read_warc(f, batch_size, max_payload_bytes=max_payload_bytes)
    elif f.format == "jsonl":
        yield from read_jsonl(f, batch_size, max_line_bytes=max_payload_bytes)
    elif f.format == "parquet":
        yield from read_parquet(f, batch_size)
    else:
        out = BatchBuilder(f.source, batch_size)
        out.file_error(locator="unsupported", reason="unsupported_format", detail=f.format)
        yield out.flush()


def sha256_of(f: InputFile, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of the raw (still compressed) file, read in chunks."""
    digest = hashlib.sha256()
    with open_binary(f) as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
