"""Pipeline YAML: parsed, validated and resolved before any work starts.

Errors name the file, the stage (by position and name) and the offending key, e.g.
``pipelines/x.yaml: stages[1] (length_filter): params.min_word: unknown key``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from curate.stages import registry
from curate.stages.base import Stage, StageParams


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
    max_actors: int = Field(default=2, ge=1, description="actor-pool size cap for model stages")
    # Global steps shuffle into at least one partition per this many MiB of input, so a
    # partition (what one worker holds at once) stays the same size as the corpus grows.
    partition_input_mib: float = Field(default=8.0, gt=0)
    # Ray Data coalesces a shuffle's input blocks into one map task until this size (its own
    # default is 1 GiB, so a map task's memory grew with the corpus up to that).
    shuffle_map_batch_mib: int = Field(default=32, ge=1)


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


@dataclass(frozen=True)
class ResolvedStage:
    cls: type[Stage]
    params: StageParams

    def build(self) -> Stage:
        return self.cls(self.params)

    @property
    def placement(self) -> tuple[bool, float, float]:
        """(actor pool, CPUs, GPUs) per worker."""
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

    def resolved(self) -> dict:
        """The fully defaulted config, as recorded in the card and hashed."""
        return {
            "name": self.name,
            "description": self.description,
            "seed": self.seed,
            "read": self.read.model_dump(mode="json"),
            "stages": [s.provenance() for s in self.stages],
            "output": self.output.model_dump(mode="json"),
            "ray": self.ray.model_dump(mode="json"),
        }

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
    return PipelineConfig(
        name=raw.name,
        description=raw.description,
        seed=raw.seed,
        read=raw.read,
        stages=tuple(resolved),
        output=raw.output,
        ray=raw.ray,
        source_path=None if origin.startswith("<") else origin,
    )


def load_pipeline(path: str | Path) -> PipelineConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: pipeline file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    return parse_pipeline(data, origin=str(path))
