"""Parquet reader: a ``text`` column (required) plus optional ``id``, ``url``, ``fetch_time``/``date``.

Row groups are streamed with ``ParquetFile.iter_batches`` over an fsspec file object, so
any fsspec URI works and only one batch of rows is in memory. Batches are converted column
by column in Arrow (no per-row Python for the text), which matters for FineWeb-sized dumps.
"""
from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.contract import StageOutput, reject_rows
from curate.readers.batch import READ_STAGE, BatchBuilder, InputFile, error_detail, open_binary, parse_timestamp
from curate.schema import DOCUMENT_SCHEMA, conform, document_id

OPTIONAL_COLUMNS = ("id", "url", "fetch_time", "date")
_FETCH_TIME_TYPE = DOCUMENT_SCHEMA.field("fetch_time").type


def read_parquet(f: InputFile, batch_size: int = 256) -> Iterator[StageOutput]:
    errors = BatchBuilder(f.source, batch_size)  # for the file-level reject rows only
    try:
        fh = open_binary(f)
    except Exception as exc:
        errors.file_error(locator="unreadable", reason="unreadable_file", detail=error_detail(exc, "open"))
        yield errors.flush()
        return
    with fh:
        try:
            parquet = pq.ParquetFile(fh)
        except Exception as exc:  # not a Parquet file, or its footer is damaged
            errors.file_error(locator="unreadable", reason="unreadable_file", detail=error_detail(exc, "footer"))
            yield errors.flush()
            return
        schema = parquet.schema_arrow
        problem = _text_column_problem(schema)
        if problem:
            errors.file_error(locator="missing_text_column", reason="missing_text_column", detail=problem)
            yield errors.flush()
            return
        columns = ["text"] + [name for name in OPTIONAL_COLUMNS if name in schema.names]
        row_index = 0
        try:
            for batch in parquet.iter_batches(batch_size=batch_size, columns=columns):
                yield _convert(pa.Table.from_batches([batch]), row_index, f.source)
                row_index += batch.num_rows
        except Exception as exc:  # a corrupt page or row group: keep what was read
            errors.file_error(locator=f"corrupt@{row_index}", reason="corrupt_file", detail=error_detail(exc, f"row {row_index}"))
            yield errors.flush()


def _text_column_problem(schema: pa.Schema) -> str | None:
    if "text" not in schema.names:
        return "no column named text"
    text_type = schema.field("text").type
    if not (_is_string(text_type) or _is_binary(text_type)):
        return f"text column has type {text_type}"
    return None


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _is_binary(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)


def _convert(table: pa.Table, first_row: int, source: str) -> StageOutput:
    n = table.num_rows
    counters: dict[str, float] = {"parquet_rows_total": float(n)}
    text, undecodable = _text_as_string(table.column("text"))
    ids = pa.array([document_id(source, first_row + i) for i in range(n)], type=pa.string())
    if "id" in table.column_names:
        own = _as_string(table.column("id"))
        if own is not None:
            usable = pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(own)), 0), False)
            ids = pc.if_else(usable, own, ids)
    url = _as_string(table.column("url")) if "url" in table.column_names else None
    fetch_time = _fetch_time(table, counters)

    documents = pa.table({
        "id": ids,
        "url": url if url is not None else pa.nulls(n, pa.string()),
        "source": pa.array([source] * n, type=pa.string()),
        "fetch_time": fetch_time,
        "text": text,
    })
    missing = pc.is_null(text)
    kept = conform(documents.filter(pc.invert(missing)), DOCUMENT_SCHEMA)
    dropped = documents.filter(missing)
    positions = [i for i, is_missing in enumerate(missing.to_pylist()) if is_missing]
    reasons = ["undecodable_text" if i in undecodable else "missing_text" for i in positions]
    details = [f"row {first_row + i}" for i in positions]
    rejected = reject_rows(dropped, stage=READ_STAGE, reasons=reasons, details=details)
    counters["documents_read"] = float(kept.num_rows)
    return StageOutput(kept=kept, rejected=rejected, counters=counters)


def _text_as_string(column: pa.ChunkedArray) -> tuple[pa.Array, set[int]]:
    """The text column as pa.string(); binary values that are not UTF-8 become null.

    Returns the positions (within the batch) of the values that failed to decode.
    """
    column = column.combine_chunks()
    if _is_string(column.type):
        return column.cast(pa.string()), set()
    try:
        return column.cast(pa.string()), set()  # validates UTF-8 for the whole batch at once
    except pa.ArrowInvalid:
        values, bad = [], set()
        for i, raw in enumerate(column.to_pylist()):
            try:
                values.append(None if raw is None else raw.decode("utf-8"))
            except UnicodeDecodeError:
                values.append(None)
                bad.add(i)
        return pa.array(values, type=pa.string()), bad


def _as_string(column: pa.ChunkedArray) -> pa.Array | None:
    """A column as strings, or None when its type has no sensible string form."""
    try:
        return column.combine_chunks().cast(pa.string())
    except pa.ArrowException:  # structs, lists ...: no usable id/url
        return None


def _fetch_time(table: pa.Table, counters: dict[str, float]) -> pa.Array:
    n = table.num_rows
    name = next((c for c in ("fetch_time", "date") if c in table.column_names), None)
    if name is None:
        return pa.nulls(n, _FETCH_TIME_TYPE)
    column = table.column(name).combine_chunks()
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        # Naive timestamps are taken as UTC; safe=False allows ns -> us truncation.
        return pc.cast(column, _FETCH_TIME_TYPE, safe=False)
    values = [parse_timestamp(v) for v in column.to_pylist()]
    bad = sum(1 for raw, parsed in zip(column.to_pylist(), values, strict=True) if raw is not None and parsed is None)
    if bad:
        counters["parquet_bad_fetch_time"] = float(bad)
    return pa.array(values, type=_FETCH_TIME_TYPE)
