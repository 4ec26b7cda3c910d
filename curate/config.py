"""Pipeline YAML: parsed, validated and resolved before any work starts.

Errors name the file, the stage (by position and name) and the offending key, e.g.
``pipelines/x.yaml: stages[1] (length_filter): params.min_word: unknown key``.
"""
from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from curate.contract import Resources, StageParams
from curate.mix.rules import MIX_COLUMNS, MixConfig, check_columns
from curate.schema import DOCUMENT_SCHEMA
from curate.stages import registry
from curate.stages.base import Stage


class ConfigError(ValueError):
    """A pipeline file that cannot run; the message names the bad key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReadConfig(_Strict):
    batch_size: int = Field(default=256, ge=1, le=100_000, description="documents per batch out of the readers")


class OutputConfig(_Strict):
    # One output shard per this many MiB of *input*: the shard count depends only on the input,
    # so the same input gives the same shards on one node or many.
    shard_input_mib: float = Field(default=64.0, gt=0)
    compression: str = Field(default="zstd", pattern="^(zstd|snappy|gzip|none)$")
    compression_level: int | None = Field(default=3)
    row_group_rows: int = Field(default=10_000, ge=1)


class RayConfig(_Strict):
    # Only used for embedded runs; a cluster (RAY_ADDRESS) brings its own resources.
    num_cpus: int | None = Field(default=None, ge=1)
    object_store_mib: int | None = Field(default=None, ge=64)
    batch_size: int = Field(default=128, ge=1, description="documents per batch given to a stage")
    # Workers a pass runs on: one per CPU (per GPU for GPU stages) unless capped here, e.g. to bound
    # memory when every worker loads a large model.
    max_actors: int | None = Field(default=None, ge=1, description="cap on the number of pass workers")
    # Global steps shuffle into at least one partition per this many MiB of input, so a
    # partition (what one worker holds at once) stays the same size as the corpus grows.
    partition_input_mib: float = Field(default=8.0, gt=0)
    # Documents per unit of a pass that reads the previous pass's parts document by document (the
    # filters and classifiers): small enough to keep every worker busy to the end of the pass and
    # to bound what a resume redoes, large enough that a unit's fixed cost (records, files) is noise.
    unit_documents: int = Field(default=1000, ge=1)


class StageEntry(_Strict):
    stage: str
    params: dict[str, Any] = Field(default_factory=dict)


class _PipelineFile(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = 0
    read: ReadConfig = Field(default_factory=ReadConfig)
    stages: list[StageEntry]
    output: OutputConfig = Field(default_factory=OutputConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    # Validated on its own (MixConfig) so its errors read `mix.buckets[2].weight: ...`.
    mix: dict[str, Any] | None = None


@dataclass(frozen=True)
class ResolvedStage:
    cls: type[Stage]
    params: StageParams

    def build(self) -> Stage:
        return self.cls(self.params)

    @property
    def placement(self) -> Resources:
        """What one worker of the stage needs."""
        return self.cls.placement(self.params)

    def provenance(self) -> dict:
        return self.cls.provenance(self.params)


@dataclass(frozen=True)
class PipelineConfig:
    name: str
    description: str
    seed: int
    read: ReadConfig
    stages: tuple[ResolvedStage, ...]
    output: OutputConfig
    ray: RayConfig
    source_path: str | None = None
    mix: MixConfig | None = None
    mix_tokenizer_path: str | None = None  # mix.tokenizer resolved on the driver (absolute)

    def resolved(self) -> dict:
        """The fully defaulted config, as recorded in the card and hashed."""
        out = {
            "name": self.name,
            "description": self.description,
            "seed": self.seed,
            "read": self.read.model_dump(mode="json"),
            "stages": [s.provenance() for s in self.stages],
            "output": self.output.model_dump(mode="json"),
            "ray": self.ray.model_dump(mode="json"),
        }
        if self.mix is not None:  # only when present: pipelines without a mix keep their hash
            out["mix"] = self.mix.model_dump(mode="json", by_alias=True)
        return out

    @property
    def mix_seed(self) -> int:
        return self.seed if self.mix is None or self.mix.seed is None else self.mix.seed

    def config_hash(self) -> str:
        # Ray resources do not change the output, so they are left out of the hash.
        body = {k: v for k, v in self.resolved().items() if k != "ray"}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _format_errors(prefix: str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            msg = "unknown key"
        elif item["type"] == "missing":
            msg = "required key is missing"
        else:
            msg = item["msg"]
        lines.append(f"{prefix}{loc}: {msg}")
    return "; ".join(lines)


def parse_pipeline(data: Any, *, origin: str = "<pipeline>") -> PipelineConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: a pipeline must be a mapping, got {type(data).__name__}")
    try:
        raw = _PipelineFile.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_errors(f"{origin}: ", e)) from None
    known = registry()
    if not raw.stages:
        raise ConfigError(f"{origin}: stages: at least one stage is required")
    resolved = []
    for index, entry in enumerate(raw.stages):
        where = f"{origin}: stages[{index}] ({entry.stage})"
        cls = known.get(entry.stage)
        if cls is None:
            raise ConfigError(f"{where}: unknown stage; known stages: {', '.join(sorted(known))}")
        try:
            params = cls.Params.model_validate(entry.params)
        except ValidationError as e:
            raise ConfigError(_format_errors(f"{where}: params.", e)) from None
        resolved.append(ResolvedStage(cls, params))
    _check_reads(resolved, origin)
    mix, tokenizer_path = _parse_mix(raw.mix, resolved, origin) if raw.mix is not None else (None, None)
    return PipelineConfig(
        name=raw.name,
        description=raw.description,
        seed=raw.seed,
        read=raw.read,
        stages=tuple(resolved),
        output=raw.output,
        ray=raw.ray,
        source_path=None if origin.startswith("<") else origin,
        mix=mix,
        mix_tokenizer_path=tokenizer_path,
    )


def _check_reads(stages: list[ResolvedStage], origin: str) -> None:
    """A column a stage is told to read must be written by the reader or an earlier stage."""
    columns = {f.name for f in DOCUMENT_SCHEMA}
    writers = None
    for index, s in enumerate(stages):
        for param, column in s.cls.reads(s.params).items():
            if column not in columns:
                writers = writers or _column_writers()
                if column in writers:
                    hint = f"; written by: {', '.join(writers[column])} (put it earlier)"
                else:
                    close = difflib.get_close_matches(column, sorted(columns | set(writers)), n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(f"{origin}: stages[{index}] ({s.cls.name}): params.{param}: column {column!r} is not written "
                                  f"by the reader or any earlier stage{hint}")
        columns -= set(s.cls.drops)
        columns |= set(s.cls.output_columns(s.params))


def _mix_location(loc: tuple) -> str:
    out = "mix"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def final_columns(stages: list[ResolvedStage]) -> dict[str, Any]:
    """Columns of the documents after the last stage (name -> Arrow type)."""
    columns = {f.name: f.type for f in DOCUMENT_SCHEMA}
    for s in stages:
        for name in s.cls.drops:
            columns.pop(name, None)
        columns.update(s.cls.output_columns(s.params))
    return columns


def _column_writers() -> dict[str, list[str]]:
    """Which known stages write each column (with default parameters), for error hints."""
    writers: dict[str, list[str]] = {}
    for name, cls in sorted(registry().items()):
        try:
            columns = cls.output_columns(cls.Params())
        except (ValidationError, TypeError, ValueError):  # a stage whose params have no defaults
            columns = dict(cls.writes)
        for column in columns:
            writers.setdefault(column, []).append(name)
    return writers


def _parse_mix(data: dict, stages: list[ResolvedStage], origin: str) -> tuple[MixConfig, str]:
    """The mix section: its own schema, then the columns its rules read (a rule naming a column
    that no stage of the pipeline writes is an error naming the stage that would), then the
    tokenizer (resolved here, on the driver, so a worker on another node gets a path)."""
    from curate.mix.tokens import TokenizerError, resolve_tokenizer

    try:
        mix = MixConfig.model_validate(data)
    except ValidationError as e:
        lines = []
        for item in e.errors():
            msg = {"extra_forbidden": "unknown key", "missing": "required key is missing"}.get(item["type"], item["msg"])
            lines.append(f"{origin}: {_mix_location(item['loc'])}: {msg.removeprefix('Value error, ')}")
        raise ConfigError("; ".join(lines)) from None
    columns = final_columns(stages)
    clash = [c for c in MIX_COLUMNS if c in columns]
    if clash:
        raise ConfigError(f"{origin}: mix: column(s) {', '.join(clash)} are written by a stage, but the mix writes them")
    problems = check_columns(mix, columns, _column_writers())
    if problems:
        raise ConfigError("; ".join(f"{origin}: mix.{where}: {msg}" for where, msg in problems))
    try:
        tokenizer_path = resolve_tokenizer(mix.tokenizer)
    except TokenizerError as e:
        raise ConfigError(f"{origin}: mix.tokenizer: {e}") from None
    return mix, tokenizer_path


def read_yaml(path: Path, error: type[Exception], missing: str):
    """A YAML file's data; ``error`` names the file when it is missing (``missing`` says what it is)
    or not YAML."""
    if not path.is_file():
        raise error(f"{path}: {missing}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise error(f"{path}: not valid YAML: {e}") from None


def load_pipeline(path: str | Path) -> PipelineConfig:
    path = Path(path)
    return parse_pipeline(read_yaml(path, ConfigError, "pipeline file not found"), origin=str(path))
