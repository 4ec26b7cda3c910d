"""Per-document mixing steps, on Arrow tables (workers call these; nothing here knows Ray).

* ``Annotator.annotate``: token count (``tokens``), bucket (``mix_bucket``), stratum and
  selection key of every document of the curated corpus.
* ``expand``: a document's copies in the mix (by the plan), each with its shuffle key and mix
  shard, and a ledger line (``mix_not_selected``) for every document the mix did not take.

Every decision is a function of (seed, document id, the document's columns, the plan), so the
output does not depend on batch boundaries, node count or scheduling.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import xxhash

from curate.mix.plan import copies as plan_copies
from curate.mix.rules import NO_STRATUM, MixConfig, assign_strata, strata_of
from curate.mix.tokens import TokenCounter
from curate.schema import REJECT_SCHEMA

STRATUM = "__mix_stratum"
KEY = "__mix_key"
SHARD = "__mix_shard"
ORDER = "__mix_order"
LEDGER_REASON = "__mix_reason"
LEDGER_DETAIL = "__mix_detail"
MIX_STAGE = "mix"
NOT_SELECTED = "mix_not_selected"

_MASK64 = (1 << 64) - 1
# Domain separation: selection keys and shuffle keys must be independent hashes of the id.
_SELECT_SALT = 0x6D69782D73656C65  # "mix-sele"
_SHUFFLE_SALT = 0x6D69782D73687566  # "mix-shuf"


def _seed(seed: int, salt: int) -> int:
    return (seed ^ salt) & _MASK64


def hash_keys(ids: list[str], seed: int) -> np.ndarray:
    s = _seed(seed, _SELECT_SALT)
    return np.fromiter((xxhash.xxh64_intdigest(i.encode("utf-8"), seed=s) for i in ids), dtype=np.uint64, count=len(ids))


def selection_keys(ids: list[str], seed: int, mode: str = "random", weights: np.ndarray | None = None, power: float = 1.0) -> np.ndarray:
    """uint64 keys; a down-sampled stratum keeps the documents with the smallest keys.

    ``random``: a uniform hash of (seed, id). ``weighted``: Efraimidis-Spirakis sampling without
    replacement with weight w = value^power — key 1 − u^(1/w), u the uniform hash, so P(kept)
    grows with w and every document keeps a chance. ``best_first``: descending weight, ties by
    hash. A null, NaN or non-positive weight sorts last.
    """
    h = hash_keys(ids, seed)
    if mode == "random":
        return h
    w = np.asarray(weights, dtype=np.float64)
    bad = ~np.isfinite(w)
    if mode == "weighted":
        w = np.where(bad | (w <= 0), np.nan, w) ** power
        u = ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53  # in (0, 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            k = -np.expm1(np.log(u) / w)  # 1 − u^(1/w), accurate near 0
        k = np.where(np.isnan(k), 1.0, k)
        top = np.minimum(np.floor(k * 2.0**53), 2.0**53 - 1).astype(np.uint64)
        return (top << np.uint64(11)) | (h & np.uint64(0x7FF))
    if mode == "best_first":
        # Order-preserving float -> uint64 of −w (so larger w first), high 52 bits, hash below.
        neg = np.where(bad, np.inf, -w).astype(np.float64)
        bits = neg.view(np.uint64)
        sign = bits >> np.uint64(63)
        ordered = np.where(sign == 1, ~bits, bits | np.uint64(1 << 63))
        return ((ordered >> np.uint64(12)) << np.uint64(12)) | (h & np.uint64(0xFFF))
    raise ValueError(f"unknown selection mode {mode!r}")


def shuffle_keys(ids: list[str], copy_numbers: list[int], seed: int) -> np.ndarray:
    s = _seed(seed, _SHUFFLE_SALT)
    return np.fromiter(
        (xxhash.xxh64_intdigest(f"{i}\x00{c}".encode(), seed=s) for i, c in zip(ids, copy_numbers, strict=True)),
        dtype=np.uint64, count=len(ids),
    )


class Annotator:
    def __init__(self, config: MixConfig, tokenizer_path: str, seed: int):
        self.config = config
        self.seed = seed
        self.counter = TokenCounter(tokenizer_path)
        self.strata = strata_of(config)
        self.bucket_names = [b.name for b in config.buckets]

    def annotate(self, table: pa.Table) -> pa.Table:
        """``table`` + ``tokens`` (int32), ``mix_bucket`` (null: no rule matched), stratum, key."""
        tokens = self.counter.count(table.column("text").to_pylist())
        strata = assign_strata(table, self.config)
        weights = None
        if self.config.selection != "random":
            weights = table.column(self.config.weight_column).to_numpy(zero_copy_only=False).astype(np.float64)
        keys = selection_keys(table.column("id").to_pylist(), self.seed, self.config.selection, weights, self.config.weight_power)
        buckets = [None if s == NO_STRATUM else self.bucket_names[self.strata[s].bucket] for s in strata.tolist()]
        return (table.append_column("tokens", pa.array(tokens, pa.int32()))
                .append_column("mix_bucket", pa.array(buckets, pa.string()))
                .append_column(STRATUM, pa.array(strata, pa.int32()))
                .append_column(KEY, pa.array(keys, pa.uint64())))


def mix_schema(document_schema: pa.Schema) -> pa.Schema:
    """Columns of a mix shard: the curated document's, then tokens, bucket and copy number."""
    fields = [f for f in document_schema if f.name not in ("tokens", "mix_bucket", "mix_copy")]
    return pa.schema(fields + [pa.field("tokens", pa.int32()), pa.field("mix_bucket", pa.string()), pa.field("mix_copy", pa.int32())])


def expand_schema(document_schema: pa.Schema) -> pa.Schema:
    """What travels to the shard writers: mix rows and ledger rows (no text), marked."""
    return pa.schema(list(mix_schema(document_schema)) + [
        pa.field(SHARD, pa.int32()), pa.field(ORDER, pa.uint64()),
        pa.field(LEDGER_REASON, pa.string()), pa.field(LEDGER_DETAIL, pa.string()),
    ])


def not_selected_detail(config: MixConfig, stratum: int, strata) -> str:
    if stratum == NO_STRATUM:
        return "no bucket rule matched"
    s = strata[stratum]
    detail = f"bucket={s.bucket_name}"
    if config.buckets[s.bucket].weight == 0:
        detail += " (weight 0)"
    if s.cap_name is not None:
        detail += f"; cap={s.cap_name}"
    return detail


def expand(annotated: pa.Table, config: MixConfig, selection: dict[int, tuple[int, int]], num_shards: int, seed: int,
           document_schema: pa.Schema) -> pa.Table:
    """Mix rows (one per copy, shard by shuffle key) and ledger rows (shard by id hash)."""
    from curate.schema import conform

    schema = expand_schema(document_schema)
    strata = annotated.column(STRATUM).to_numpy()
    keys = annotated.column(KEY).to_numpy()
    n_copies = plan_copies(strata, keys, selection)
    parts = []
    taken = np.nonzero(n_copies > 0)[0]
    if len(taken):
        rows = np.repeat(taken, n_copies[taken])
        # Copy numbers 0..c-1 for each document's run of repeated rows.
        starts = np.cumsum(n_copies[taken]) - n_copies[taken]
        copy_no = np.arange(len(rows)) - np.repeat(starts, n_copies[taken])
        table = annotated.take(pa.array(rows, pa.int64()))
        ids = table.column("id").to_pylist()
        order = shuffle_keys(ids, copy_no.tolist(), seed)
        table = table.append_column("mix_copy", pa.array(copy_no, pa.int32()))
        table = table.append_column(SHARD, pa.array((order % np.uint64(num_shards)).astype(np.int32), pa.int32()))
        table = table.append_column(ORDER, pa.array(order, pa.uint64()))
        parts.append(conform(table, schema))
    left = np.nonzero(n_copies == 0)[0]
    if len(left):
        table = annotated.take(pa.array(left, pa.int64())).select(["id", "url", "source"])
        ids = table.column("id").to_pylist()
        shards = np.fromiter((xxhash.xxh64_intdigest(i.encode("utf-8")) % num_shards for i in ids), dtype=np.int32, count=len(ids))
        all_strata = strata_of(config)
        details = [not_selected_detail(config, int(s), all_strata) for s in strata[left].tolist()]
        table = (table.append_column(SHARD, pa.array(shards, pa.int32()))
                 .append_column(LEDGER_REASON, pa.array([NOT_SELECTED] * len(ids), pa.string()))
                 .append_column(LEDGER_DETAIL, pa.array(details, pa.string())))
        parts.append(conform(table, schema))
    if not parts:
        return schema.empty_table()
    return pa.concat_tables(parts)


def ledger_rows(table: pa.Table) -> pa.Table:
    """REJECT_SCHEMA-shaped ledger lines (stage ``mix``) from marked rows."""
    from curate.schema import conform

    out = table.select(["id", "url", "source", LEDGER_REASON, LEDGER_DETAIL]).rename_columns(["id", "url", "source", "reason", "detail"])
    out = out.append_column("stage", pa.array([MIX_STAGE] * out.num_rows, pa.string()))
    return conform(out, REJECT_SCHEMA)
