"""The one Arrow schema every document batch follows, and the schema of reject rows.

Readers emit DOCUMENT_SCHEMA; each stage may add columns (declared in its ``writes``) and
the extraction stage drops ``html``. Rejected documents never carry text: a reject row
names the document, the stage that removed it and why (REJECT_SCHEMA).
"""
from __future__ import annotations

import pyarrow as pa
import xxhash

DOCUMENT_FIELDS: list[pa.Field] = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("url", pa.string()),
    # Where the document came from: the input file relative to the corpus root (or its URI).
    pa.field("source", pa.string()),
    pa.field("fetch_time", pa.timestamp("us", tz="UTC")),
    pa.field("warc_record_id", pa.string()),
    pa.field("content_type", pa.string()),
    pa.field("charset", pa.string()),
    # Raw HTTP payload (HTML bytes) for documents that still need extraction; null otherwise.
    pa.field("html", pa.binary()),
    pa.field("text", pa.string()),
]
DOCUMENT_SCHEMA = pa.schema(DOCUMENT_FIELDS)

REJECT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("source", pa.string()),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        # A short, text-free explanation: the value that fired, a survivor id, an error class.
        pa.field("detail", pa.string()),
    ]
)


def evolve_schema(schema: pa.Schema, writes: dict[str, pa.DataType], drops: tuple[str, ...]) -> pa.Schema:
    """The document schema after a stage: its dropped columns removed, its written ones added."""
    fields = [f for f in schema if f.name not in drops and f.name not in writes]
    fields += [pa.field(name, dtype) for name, dtype in writes.items()]
    return pa.schema(fields)


def document_id(source: str, locator: str | int) -> str:
    """Stable id of a document from where it sits in the input (file + offset/line/row).

    Ids depend only on the input, never on scheduling, so reruns and multi-node runs agree.
    """
    return xxhash.xxh3_64_hexdigest(f"{source}\x00{locator}".encode())


def empty_documents(schema: pa.Schema = DOCUMENT_SCHEMA) -> pa.Table:
    return schema.empty_table()


def empty_rejects() -> pa.Table:
    return REJECT_SCHEMA.empty_table()


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Return ``table`` with exactly ``schema``'s columns, in order: missing ones null, types cast.

    Columns not in the schema are dropped. Used so every block Ray sees has one schema.
    """
    columns = []
    for field in schema:
        if field.name in table.column_names:
            column = table.column(field.name)
            if column.type != field.type:
                column = column.cast(field.type)
            columns.append(column)
        else:
            columns.append(pa.nulls(table.num_rows, type=field.type))
    return pa.Table.from_arrays(columns, schema=schema)
