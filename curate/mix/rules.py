"""The `mix:` section of a pipeline: bucket rules, caps, budget, selection, output.

A bucket rule names a bucket, its share of the mix's tokens (``weight``) and a ``where``
condition over document columns; the first rule whose condition holds takes the document (a rule
without ``where`` takes everything left, so it goes last). Inside a bucket, ``caps`` bound the
share of the bucket's tokens that documents matching their own condition may take (Llama 3
down-sampled over-represented knowledge categories such as arts & entertainment).

A condition maps column -> predicate; all must hold (a list of such mappings: any one). A
predicate is a scalar (equal), a list (one of), or a mapping of operators:
``eq ne in not_in gt ge lt le matches glob is_null`` (``matches``: an RE2 regular expression
searched in the value; ``glob``: fnmatch on the whole value, e.g. ``source: {glob: "code/*"}``).
A null value satisfies no operator but ``is_null: true``.

Everything here is plain pydantic and pyarrow: the runner validates the section before Ray
starts, and workers evaluate compiled rules on Arrow tables.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
# Columns the mix adds to its shards: a stage must not write them.
MIX_COLUMNS = ("tokens", "mix_bucket", "mix_copy")


def check_shares(key: str, items: list[tuple[str, float]], noun: str, whole: str) -> None:
    """Named shares of a whole (a mix's buckets, a blend's parts): unique names, summing to 1."""
    names = [name for name, _ in items]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{key}: names must be unique, repeated: {', '.join(dupes)}")
    total = sum(share for _, share in items)
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"{key}: {noun} sum to {total:.6g}; they are shares of {whole} and must sum to 1")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Scalar = bool | int | float | str


class Predicate(_Strict):
    eq: Scalar | None = None
    ne: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    matches: str | None = None
    glob: str | None = None
    is_null: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `lang: en` means equal, `lang: [de, fr]` means one of.
        if isinstance(value, list):
            return {"in": value}
        if isinstance(value, (bool, int, float, str)):
            return {"eq": value}
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Predicate:
        if not self.operators():
            raise ValueError("a predicate needs at least one operator (eq, ne, in, not_in, gt, ge, lt, le, matches, glob, is_null)")
        if self.matches is not None:
            try:
                pc.match_substring_regex(pa.array([""]), self.matches)
            except pa.ArrowInvalid as e:
                raise ValueError(f"matches: not a valid RE2 regular expression: {e}") from None
        return self

    @model_serializer
    def _only_operators(self) -> dict[str, Any]:
        # The card and the config hash record what the rule says, not eleven nulls.
        return self.operators()

    def operators(self) -> dict[str, Any]:
        out = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is not None:
                out["in" if name == "in_" else name] = value
        return out


Where = dict[str, Predicate]


def _as_any_of(value: Any) -> Any:
    # One mapping (all must hold) is the common case; a list of mappings means any of them.
    return [value] if isinstance(value, dict) else value


class CapRule(_Strict):
    name: str | None = Field(default=None, pattern=NAME_PATTERN, description="default: the condition's values, e.g. topic=sports")
    where: list[Where] = Field(min_length=1)
    max_share: float = Field(gt=0, le=1, description="most this share of the bucket's tokens")

    _where_any_of = field_validator("where", mode="before")(lambda cls, v: _as_any_of(v))

    def label(self) -> str:
        return self.name or condition_label(self.where)


class BucketRule(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    weight: float = Field(ge=0, le=1, description="share of the mix's tokens")
    where: list[Where] | None = Field(default=None, min_length=1, description="null: every document no earlier rule took")
    max_epochs: int | None = Field(default=None, ge=1, description="overrides mix.max_epochs for this bucket")
    caps: list[CapRule] = Field(default_factory=list)

    _where_any_of = field_validator("where", mode="before")(lambda cls, v: _as_any_of(v))

    @model_validator(mode="after")
    def _unique_caps(self) -> BucketRule:
        labels = [c.label() for c in self.caps]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ValueError(f"caps: names must be unique, repeated: {', '.join(dupes)}")
        return self


def _llama3_buckets() -> list[BucketRule]:
    """Llama 3's final mix by tokens: ~50% general knowledge, 25% math and reasoning, 17% code,
    8% multilingual; over-represented general categories down-sampled (caps)."""
    return [
        BucketRule(name="multilingual", weight=0.08, where=[{"lang": Predicate(ne="en")}]),
        BucketRule(name="code", weight=0.17, where=[{"domain_code": Predicate(ge=0.5)}]),
        BucketRule(name="math_reasoning", weight=0.25, where=[{"domain_math": Predicate(ge=0.5)}]),
        BucketRule(name="general", weight=0.50, caps=[
            CapRule(name="arts_entertainment", where=[{"topic": Predicate(eq="arts_entertainment")}], max_share=0.08),
            CapRule(name="sports", where=[{"topic": Predicate(eq="sports")}], max_share=0.05),
            CapRule(name="shopping_promotional", where=[{"topic": Predicate(eq="shopping_promotional")}], max_share=0.02),
        ]),
    ]


class MixConfig(_Strict):
    seed: int | None = Field(default=None, description="default: the pipeline's seed")
    tokenizer: str = Field(default="builtin:all-MiniLM-L6-v2", description="a tokenizer.json (or a folder holding one), or builtin:<model>")
    budget: int | Literal["scarcest"] = Field(
        default="scarcest", description="tokens in the mix, or as many as the scarcest bucket allows at its max_epochs")
    max_epochs: int = Field(default=4, ge=1, description="most copies of one document")
    selection: Literal["random", "weighted", "best_first"] = Field(
        default="random", description="which documents a down-sampled bucket keeps: uniformly by hash, "
        "weighted by weight_column (Efraimidis-Spirakis keys), or the highest weight_column first")
    weight_column: str | None = None
    weight_power: float = Field(default=1.0, gt=0)
    buckets: list[BucketRule] = Field(default_factory=_llama3_buckets)
    shard_tokens: int = Field(default=10_000_000, ge=1, description="target tokens per mix shard")
    tokenized: Literal["none", "npy", "megatron"] = Field(default="none", description="also write token arrays per shard")

    @field_validator("budget")
    @classmethod
    def _positive_budget(cls, value):
        if isinstance(value, int) and value <= 0:
            raise ValueError("a token budget must be positive (or 'scarcest')")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MixConfig:
        if not self.buckets:
            raise ValueError("buckets: at least one bucket is required")
        check_shares("buckets", [(b.name, b.weight) for b in self.buckets], "weights", "the mix")
        for index, b in enumerate(self.buckets[:-1]):
            if b.where is None:
                raise ValueError(f"buckets[{index}] ({b.name}): a rule without `where` takes every document, "
                                 "so the rules after it would never match; put it last")
        if self.selection != "random" and not self.weight_column:
            raise ValueError(f"weight_column: required when selection is {self.selection!r}")
        return self

    def epochs_of(self, bucket: BucketRule) -> int:
        return bucket.max_epochs or self.max_epochs


def condition_label(where: list[Where] | None) -> str:
    if where is None:
        return "*"
    parts = where
    def one(w: Where) -> str:
        return ",".join(f"{col}={'|'.join(f'{op}:{v}' if op != 'eq' else str(v) for op, v in p.operators().items())}" for col, p in w.items())
    return " or ".join(one(w) for w in parts)


def condition_columns(where: list[Where] | None) -> list[str]:
    return [col for w in where or [] for col in w]


def referenced_columns(config: MixConfig) -> list[tuple[str, str, Predicate]]:
    """(location, column, predicate) for every column a rule reads, for config validation."""
    out = []
    for i, b in enumerate(config.buckets):
        for loc, where in [(f"buckets[{i}].where", b.where)] + [(f"buckets[{i}].caps[{j}].where", c.where) for j, c in enumerate(b.caps)]:
            for k, w in enumerate(where or []):
                prefix = f"{loc}[{k}]" if len(where) > 1 else loc
                for col, pred in w.items():
                    out.append((f"{prefix}.{col}", col, pred))
    return out


def check_columns(config: MixConfig, columns: dict[str, pa.DataType], writers: dict[str, list[str]]) -> list[tuple[str, str]]:
    """Problems ``(location, message)`` with the columns the rules read, given the pipeline's final
    columns (name -> type) and which known stages write a column (for the hint)."""
    problems = []
    needed = referenced_columns(config)
    if config.weight_column:
        needed.append(("weight_column", config.weight_column, None))
    for where, col, pred in needed:
        if col not in columns:
            if writers.get(col):
                hint = f"stage {' or '.join(writers[col])} writes it; add it to `stages`"
            else:
                hint = "no known stage writes it"
            problems.append((where, f"column {col!r} is not written by any stage of this pipeline ({hint})"))
            continue
        dtype = columns[col]
        numeric = pa.types.is_integer(dtype) or pa.types.is_floating(dtype)
        if pred is None:
            if not numeric:
                problems.append((where, f"column {col!r} is {dtype}; a weight column must be numeric"))
            continue
        ops = pred.operators()
        if not numeric and {"gt", "ge", "lt", "le"} & set(ops):
            problems.append((where, f"column {col!r} is {dtype}; gt/ge/lt/le need a numeric column"))
        if not (pa.types.is_string(dtype) or pa.types.is_large_string(dtype)) and {"matches", "glob"} & set(ops):
            problems.append((where, f"column {col!r} is {dtype}; matches/glob need a string column"))
    return problems


# --------------------------------------------------------------------------- evaluation


def _predicate_mask(column: pa.ChunkedArray | pa.Array, pred: Predicate) -> np.ndarray:
    """True where the value satisfies every operator of ``pred``; nulls satisfy none but is_null."""
    n = len(column)
    ops = pred.operators()
    mask = np.ones(n, dtype=bool)
    valid = pc.is_valid(column).to_numpy(zero_copy_only=False)
    for op, value in ops.items():
        if op == "is_null":
            mask &= (~valid) if value else valid
            continue
        if op == "glob":
            values = column.to_pylist()
            result = np.fromiter((v is not None and fnmatch.fnmatchcase(v, value) for v in values), dtype=bool, count=n)
        else:
            if op in ("in", "not_in"):
                values = pa.array(value, type=column.type) if not pa.types.is_string(column.type) else pa.array([str(v) for v in value])
                got = pc.is_in(column, value_set=values)
                if op == "not_in":
                    got = pc.invert(got)
            elif op == "matches":
                got = pc.match_substring_regex(column, value)
            else:
                if pa.types.is_string(column.type):
                    scalar = pa.scalar(str(value))
                elif pa.types.is_floating(column.type):
                    # In the column's precision: `lt: 0.9` on a float32 score means float32(0.9).
                    scalar = pa.scalar(value, type=column.type)
                else:
                    scalar = pa.scalar(value)
                fn = {"eq": pc.equal, "ne": pc.not_equal, "gt": pc.greater, "ge": pc.greater_equal, "lt": pc.less, "le": pc.less_equal}[op]
                got = fn(column, scalar)
            result = pc.fill_null(got, False).to_numpy(zero_copy_only=False).astype(bool)
        mask &= result & valid
    return mask


def condition_mask(table: pa.Table, where: list[Where] | None) -> np.ndarray:
    if where is None:
        return np.ones(table.num_rows, dtype=bool)
    out = np.zeros(table.num_rows, dtype=bool)
    for w in where:
        m = np.ones(table.num_rows, dtype=bool)
        for col, pred in w.items():
            m &= _predicate_mask(table.column(col), pred)
        out |= m
    return out


@dataclass(frozen=True)
class Stratum:
    """A selection unit: one bucket, or one capped group inside a bucket (``cap`` index), or the
    bucket's uncapped rest (``cap`` None)."""

    index: int
    bucket: int
    bucket_name: str
    cap: int | None
    cap_name: str | None
    max_share: float | None

    @property
    def label(self) -> str:
        return self.bucket_name if self.cap is None else f"{self.bucket_name}/{self.cap_name}"


def strata_of(config: MixConfig) -> list[Stratum]:
    out: list[Stratum] = []
    for b_index, b in enumerate(config.buckets):
        for c_index, cap in enumerate(b.caps):
            out.append(Stratum(len(out), b_index, b.name, c_index, cap.label(), cap.max_share))
        out.append(Stratum(len(out), b_index, b.name, None, None, None))
    return out


NO_STRATUM = -1


def assign_strata(table: pa.Table, config: MixConfig) -> np.ndarray:
    """Stratum index of every row (``NO_STRATUM`` where no bucket rule matched). First matching
    bucket rule wins; inside the bucket, the first matching cap."""
    strata = strata_of(config)
    by_bucket: dict[int, list[Stratum]] = {}
    for s in strata:
        by_bucket.setdefault(s.bucket, []).append(s)
    out = np.full(table.num_rows, NO_STRATUM, dtype=np.int32)
    free = np.ones(table.num_rows, dtype=bool)
    for b_index, b in enumerate(config.buckets):
        if not free.any():
            break
        taken = condition_mask(table, b.where) & free
        free &= ~taken
        rest = taken.copy()
        for s in by_bucket[b_index]:
            if s.cap is None:
                out[rest] = s.index
            else:
                hit = condition_mask(table, b.caps[s.cap].where) & rest
                out[hit] = s.index
                rest &= ~hit
    return out
