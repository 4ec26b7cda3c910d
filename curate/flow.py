"""Rows in flight between stages: documents and reject rows travel in one Arrow table.

Ray Data's ``map_batches`` returns one dataset, so a stage's rejects ride along with its kept
documents, marked by three internal columns, and with their text and html nulled (rejects never
carry text). Later stages skip marked rows; the writer splits them into data and rejects shards.
Keeping both in one stream is what lets the ledger balance without a second pass.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from curate.schema import REJECT_SCHEMA, conform

REJECT_STAGE = "__reject_stage"
REJECT_REASON = "__reject_reason"
REJECT_DETAIL = "__reject_detail"
SHARD = "__shard"
_MARK_FIELDS = [
    pa.field(REJECT_STAGE, pa.string()),
    pa.field(REJECT_REASON, pa.string()),
    pa.field(REJECT_DETAIL, pa.string()),
]


def flow_schema(document_schema: pa.Schema) -> pa.Schema:
    return pa.schema(list(document_schema) + _MARK_FIELDS)


def evolve_schema(schema: pa.Schema, writes: dict[str, pa.DataType], drops: tuple[str, ...]) -> pa.Schema:
    """The document schema after a stage: its dropped columns removed, its written ones added."""
    fields = [f for f in schema if f.name not in drops and f.name not in writes]
    fields += [pa.field(name, dtype) for name, dtype in writes.items()]
    return pa.schema(fields)


def to_flow(kept: pa.Table, rejected: pa.Table, document_schema: pa.Schema) -> pa.Table:
    """One flowing table from a stage's kept documents and its reject rows."""
    schema = flow_schema(document_schema)
    parts = []
    if kept.num_rows:
        parts.append(conform(kept, schema))
    if rejected.num_rows:
        marked = rejected.rename_columns(
            ["id", "url", "source", REJECT_STAGE, REJECT_REASON, REJECT_DETAIL]
        )
        parts.append(conform(marked, schema))
    if not parts:
        return schema.empty_table()
    return pa.concat_tables(parts)


def split_flow(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(documents still alive, rows rejected by an earlier stage)."""
    rejected_mask = pc.is_valid(table.column(REJECT_STAGE))
    return table.filter(pc.invert(rejected_mask)), table.filter(rejected_mask)


def documents_of(table: pa.Table, document_schema: pa.Schema) -> pa.Table:
    return conform(table, document_schema)


def rejects_of(table: pa.Table) -> pa.Table:
    """Reject rows (REJECT_SCHEMA) from flowing rows that carry the marks."""
    renamed = table.select(["id", "url", "source", REJECT_STAGE, REJECT_REASON, REJECT_DETAIL])
    renamed = renamed.rename_columns(["id", "url", "source", "stage", "reason", "detail"])
    return conform(renamed, REJECT_SCHEMA)
