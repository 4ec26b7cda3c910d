"""`curate mix OUT --config MIX.yaml --name NAME`: new mixes of a finished run, no stage re-run.

The Llama 3 report changed its mix during training (more math and non-English later, a long-context
phase, an annealing phase on a small amount of high-quality data). A mix config names one or more
**phases**, each a complete mix (the same rules as a pipeline's ``mix:`` section: buckets with
weights and rules, quality floors, a token budget, selection, token arrays)::

    phases:
      main:    {budget: 2000000, buckets: [...]}
      anneal:  {budget: 200000, selection: best_first, weight_column: quality_static, buckets: [...]}

Every phase is planned and written by the run's own mix passes, from the run's committed shards
(``OUT/data``), into ``OUT/mix/<name>/<phase>/`` (``data/``, ``not_selected/``, ``tokens/``,
``mix.json``), and ``OUT/mix/<name>/mix.json`` lists the phases (targets against achieved shares,
tokens, the manifest of each). The card gains ``mixes[<name>]`` and a README section, and
``curate audit`` verifies every phase as it verifies the run's own mix (shards, tokens, ledger
``kept = mixed + mix_not_selected``). Same run, config and seed => the same bytes.

A config may also name **blends** (the report judged a new data set by annealing on ~70 % of the
default mix plus ~30 % of the new data): token shares of several sources — a phase of this config,
the run's own mix, an earlier named mix, another run's shards or a Parquet data set — written as
one mix whose buckets are the parts (rows carry a ``blend_part`` column). Every part file's bytes and
sha256 are recorded, and audit re-hashes them.

What appears in OUT appears whole: the phases are written to a staging folder under
``OUT/.work/mix-<name>/``, moved into ``OUT/mix/<name>`` in one rename, and only then is the card
rewritten (through a temporary file and a rename). A name that exists is refused unless ``force``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from curate.hashing import sha256_file
from curate.run import out as out_mod
from curate.run.units import RunError

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class RemixError(Exception):
    """A mix that cannot start: a bad config, a run without shards, a name already taken."""


class BlendPart(BaseModel):
    """One source of a blend and its share of the blend's tokens. Exactly one source key."""
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    share: float = Field(gt=0, le=1, description="share of the blend's tokens")
    phase: str | None = Field(default=None, description="a phase of this mix config")
    mix: str | None = Field(default=None, description="'run' (the run's own mix) or '<name>/<phase>' of an earlier `curate mix`")
    run: str | None = Field(default=None, description="another curate run's OUT: the curated shards its card lists")
    path: str | None = Field(default=None, description="a Parquet file, or a folder of them, with a text column")
    max_epochs: int | None = Field(default=None, ge=1, description="overrides the blend's max_epochs for this part")

    @model_validator(mode="after")
    def _one_source(self) -> BlendPart:
        given = [k for k in SOURCE_KEYS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"part {self.name}: name exactly one source of {', '.join(SOURCE_KEYS)} (got {given or 'none'})")
        return self

    @property
    def source(self) -> tuple[str, str]:
        return next((k, getattr(self, k)) for k in SOURCE_KEYS if getattr(self, k) is not None)


SOURCE_KEYS = ("phase", "mix", "run", "path")


class BlendConfig(BaseModel):
    """An annealing blend (Llama 3 judged a new data set by annealing on ~70 % of the default mix
    plus ~30 % of the new data): token shares of several sources, written as one mix."""
    model_config = ConfigDict(extra="forbid")
    parts: list[BlendPart] = Field(min_length=1)
    budget: int | Literal["scarcest"] = Field(default="scarcest", description="tokens, or as many as the scarcest part allows")
    max_epochs: int = Field(default=1, ge=1, description="most copies of one row (default 1: an annealing set repeats nothing)")
    seed: int | None = None
    tokenizer: str = "builtin:all-MiniLM-L6-v2"
    shard_tokens: int = Field(default=10_000_000, ge=1)
    tokenized: Literal["none", "npy", "megatron"] = "none"

    @model_validator(mode="after")
    def _shares(self) -> BlendConfig:
        from curate.mix.rules import check_shares

        check_shares("parts", [(p.name, p.share) for p in self.parts], "shares", "the blend")
        return self

    def as_mix(self):
        """The blend as a mix: one bucket per part, matched by the ``blend_part`` column."""
        from curate.mix.rules import MixConfig
        from curate.run.mix_passes import BLEND_PART

        return MixConfig.model_validate({
            "seed": self.seed, "tokenizer": self.tokenizer, "budget": self.budget, "max_epochs": self.max_epochs,
            "shard_tokens": self.shard_tokens, "tokenized": self.tokenized,
            "buckets": [{"name": p.name, "weight": p.share, "max_epochs": p.max_epochs, "where": {BLEND_PART: {"eq": p.name}}}
                        for p in self.parts],
        })


class RemixConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phases: dict[str, dict] = Field(default_factory=dict, description="phase name -> a mix (the pipeline's mix: section)")
    blends: dict[str, BlendConfig] = Field(default_factory=dict, description="blend name -> parts and their token shares")

    @model_validator(mode="after")
    def _names(self) -> RemixConfig:
        if not self.phases and not self.blends:
            raise ValueError("name at least one of phases or blends")
        bad = [name for name in [*self.phases, *self.blends] if not _NAME.match(name)]
        if bad:
            raise ValueError(f"phase and blend names are letters, digits, '_' and '-': {bad}")
        both = sorted(set(self.phases) & set(self.blends))
        if both:
            raise ValueError(f"a phase and a blend share a name (and a folder): {both}")
        for blend, config in self.blends.items():
            for part in config.parts:
                if part.phase is not None and part.phase not in self.phases:
                    raise ValueError(f"blends.{blend}: part {part.name}: phase {part.phase!r} is not a phase of this config "
                                     f"(phases: {sorted(self.phases) or 'none'})")
        return self


def _run_config(card: dict, origin: str):
    """The finished run's pipeline, re-parsed from the card (its stages define the columns the
    phases' rules may read)."""
    from curate.config import ConfigError, parse_pipeline

    resolved = dict(card["pipeline"]["resolved"])
    resolved.pop("mix", None)
    resolved["stages"] = [{"stage": s["stage"], "params": s["params"]} for s in resolved["stages"]]
    try:
        return parse_pipeline(resolved, origin=origin)
    except ConfigError as e:
        raise RemixError(f"{origin}: the run's pipeline no longer parses: {e}") from None


def load_remix_config(path: Path, run_config) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """({phase: (MixConfig, tokenizer path)}, {blend: (BlendConfig, MixConfig, tokenizer path)});
    each phase is checked against the run's columns."""
    from curate.config import ConfigError, _parse_mix, read_yaml

    data = read_yaml(path, RemixError, "no such mix config")
    try:
        config = RemixConfig.model_validate(data or {})
    except ValidationError as e:
        def message(item: dict) -> str:
            if item["type"] == "extra_forbidden":
                return "unknown key" + (" (a mix config has phases: and blends:)" if len(item["loc"]) == 1 else "")
            return item["msg"].removeprefix("Value error, ")

        raise RemixError("; ".join(f"{path}: {'.'.join(map(str, i['loc'])) or '(top level)'}: {message(i)}" for i in e.errors())) from None
    phases = {}
    for name, body in config.phases.items():
        try:
            phases[name] = _parse_mix(body or {}, list(run_config.stages), f"{path}: phases.{name}")
        except ConfigError as e:
            raise RemixError(str(e).replace(f"phases.{name}: mix.", f"phases.{name}.")) from None
    from curate.mix.tokens import TokenizerError, resolve_tokenizer

    blends = {}
    for name, blend in config.blends.items():
        try:
            blends[name] = (blend, blend.as_mix(), resolve_tokenizer(blend.tokenizer))
        except TokenizerError as e:
            raise RemixError(f"{path}: blends.{name}.tokenizer: {e}") from None
    return phases, blends


def remix(out_dir: str | Path, config_path: str | Path, name: str, *, ray_address: str | None = None, force: bool = False,
          progress=None) -> dict:
    """Write the named mix of a finished run (see the module docstring); returns its summary."""
    import ray

    from curate import card as card_mod
    from curate.mix.manifest import card_summary
    from curate.run.environment import init_ray
    from curate.run.pipeline import Engine
    from curate.run.progress import Progress
    from curate.run.work import open_store

    out_dir = Path(out_dir).resolve()
    if not _NAME.match(name):
        raise RemixError(f"mix name {name!r}: letters, digits, '_' and '-' only")
    card_file = out_dir / "card.json"
    if not card_file.is_file():
        raise RemixError(f"{out_dir}: no card.json: not a finished curate run")
    card = json.loads(card_file.read_text(encoding="utf-8"))
    target = out_dir / "mix" / name
    # a folder the card does not list is what an interrupted `curate mix` left: it is replaced
    if name in card.get("mixes", {}) and not force:
        raise RemixError(f"{target}: a mix named {name!r} exists; choose another name or pass --force to replace it")
    run_config = _run_config(card, str(card_file))
    phases, blends = load_remix_config(Path(config_path), run_config)
    data_rows = [r for r in card["output"]["data"] if r["rows"]]
    if not data_rows and phases:
        raise RemixError(f"{out_dir}: the run kept no document: nothing to mix")
    # every blend source is found (and its files listed) before any work starts
    sources = {blend: [_part_files(part, out_dir, card, name) for part in config.parts] for blend, (config, _, _) in blends.items()}
    shards = [{"path": str(out_dir / r["path"]), "rows": r["rows"]} for r in data_rows]
    # the committed shards' own schema: the document columns plus every column the stages added
    schema = pq.read_schema(out_dir / data_rows[0]["path"]).remove_metadata() if data_rows else None
    documents_in = sum(r["rows"] for r in data_rows)

    control = out_dir / out_mod.CONTROL
    control.mkdir(parents=True, exist_ok=True)
    out_mod.acquire_lock(control)
    staging = control / f"mix-{name}"
    progress = progress or Progress()
    try:
        shutil.rmtree(staging, ignore_errors=True)
        final_dir = staging / "final"
        final_dir.mkdir(parents=True)
        owns_ray = not ray.is_initialized() and not ray_address
        ray_info = init_ray(run_config, ray_address)
        store = open_store(str(staging / "work"))
        engine = Engine(store, final_dir, progress, ray_info["cpus"], ray_info["gpus"], max(2, 2 * ray_info["cpus"]), 1,
                        run_config.ray.batch_size, run_config.ray.unit_documents, run_config.ray.max_actors)
        from curate.run.mix_passes import run_mix

        manifests, staged, blend_summaries = {}, {}, {}
        try:
            for index, (phase, (mix, tokenizer_path)) in enumerate(phases.items()):
                config = dataclasses.replace(run_config, mix=mix, mix_tokenizer_path=tokenizer_path)
                prefix = f"mix/{name}/{phase}"
                manifest = run_mix(engine, index, config, shards, documents_in, schema, card["run_id"], prefix=prefix,
                                   pass_name=f"remix-{phase}")
                if not manifest["ledger"]["balanced"]:
                    raise RunError(f"mix {name}/{phase}: ledger does not balance: {manifest['ledger']['explanation']}")
                manifests[phase] = card_summary(manifest, sha256_file(final_dir / prefix / "mix.json"), prefix)
                staged[phase] = manifest
            for index, (blend, (config, mix, tokenizer_path)) in enumerate(blends.items(), start=len(phases)):
                blend_summaries[blend] = _write_blend(engine, index, run_config, card["run_id"], name, blend, config, mix,
                                                      tokenizer_path, sources[blend], staged, final_dir)
        finally:
            engine.close()
        if owns_ray:
            ray.shutdown()
        summary = {
            "name": name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "config_sha256": sha256_file(Path(config_path)),
            "documents_in": documents_in,
            "phases": manifests,
            "blends": blend_summaries,
        }
        index_path = final_dir / "mix" / name / "mix.json"
        # the listing of the phases; volatile fields (the time) stay in the card, so equal inputs give equal bytes
        stable = {k: v for k, v in summary.items() if k != "created"}
        index_path.write_text(json.dumps(stable, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        summary["manifest"] = {"path": f"mix/{name}/mix.json", "sha256": sha256_file(index_path)}

        # commit: the whole folder in one rename, then the card (a temporary file and a rename)
        (out_dir / "mix").mkdir(exist_ok=True)
        if target.exists():  # the mix it replaces moves aside first: OUT never holds half of either
            os.replace(target, staging / "replaced")
        os.replace(final_dir / "mix" / name, target)
        out_mod.own_folder(out_dir, f"mix/{name}")
        card.setdefault("mixes", {})[name] = summary
        card_mod.write_card(card, out_dir, None)
        shutil.rmtree(staging, ignore_errors=True)
        return summary
    finally:
        out_mod.release_lock(control)


def _part_files(part: BlendPart, out_dir: Path, card: dict, name: str) -> dict:
    """Where a blend part reads: ``{"source": ..., "files": [{read, path, rows, label}]}``.
    ``read`` is what a worker opens; ``path`` is what mix.json records (relative to OUT for a
    source inside OUT, so two copies of a run record the same bytes; absolute outside it)."""
    kind, ref = part.source
    where = f"part {part.name} ({kind}: {ref})"
    files: list[tuple[str, str, int]] = []  # (read, record, rows)
    if kind == "phase":
        # written by this command before the blends; read from the staging folder (see remix)
        return {"source": {"kind": "phase", "phase": ref}, "files": None, "phase": ref}
    if kind == "mix":
        if ref == "run":
            summary = card.get("mix")
            if not summary:
                raise RemixError(f"{where}: the run wrote no mix of its own")
        else:
            mix_name, _, phase = ref.partition("/")
            if mix_name == name:
                raise RemixError(f"{where}: a blend cannot read the mix it replaces; name the phase with `phase: {phase}`")
            summary = ((card.get("mixes") or {}).get(mix_name) or {}).get("phases", {}).get(phase)
            if summary is None:
                known = [f"{m}/{p}" for m, v in (card.get("mixes") or {}).items() for p in v.get("phases", {})]
                raise RemixError(f"{where}: no such mix phase in the card (known: {known or 'none'}; 'run' is the run's own mix)")
        manifest_path = out_dir / summary["manifest"]["path"]
        if not manifest_path.is_file() or sha256_file(manifest_path) != summary["manifest"]["sha256"]:
            raise RemixError(f"{where}: {summary['manifest']['path']} is missing or differs from the card; run `curate audit` first")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = [(str(out_dir / s["path"]), s["path"], s["rows"]) for s in manifest["shards"]]
        source = {"kind": "mix", "mix": ref}
    elif kind == "run":
        other = Path(ref).expanduser().resolve()
        other_card = other / "card.json"
        if not other_card.is_file():
            raise RemixError(f"{where}: {other}: no card.json: not a finished curate run")
        body = json.loads(other_card.read_text(encoding="utf-8"))
        files = [(str(other / r["path"]), str(other / r["path"]), r["rows"]) for r in body["output"]["data"] if r["rows"]]
        source = {"kind": "run", "run": str(other), "run_id": body["run_id"]}
    else:
        root = Path(ref).expanduser().resolve()
        if root.is_file():
            found = [root]
        elif root.is_dir():
            found = sorted(f for f in root.rglob("*.parquet") if not any(x.startswith(".") for x in f.relative_to(root).parts))
        else:
            raise RemixError(f"{where}: no such file or folder")
        for f in found:
            try:
                meta = pq.ParquetFile(f)
            except (OSError, pa.ArrowException) as e:
                raise RemixError(f"{where}: {f}: not a readable Parquet file ({type(e).__name__}: {e})") from None
            if "text" not in meta.schema_arrow.names:
                raise RemixError(f"{where}: {f}: no `text` column (columns: {', '.join(meta.schema_arrow.names[:12])})")
            files.append((str(f), str(f), meta.metadata.num_rows))
        source = {"kind": "path", "path": str(root)}
    files = [f for f in files if f[2]]
    if not files:
        raise RemixError(f"{where}: holds no document")
    base = Path(files[0][1]).parent if kind in ("run", "path") else None
    listed = []
    for read, record, rows in files:
        label = Path(record).relative_to(base).as_posix() if base and Path(record).is_relative_to(base) else Path(record).name
        listed.append({"read": read, "path": record, "rows": rows, "label": f"{part.name}/{label}"})
    if len({f["label"] for f in listed}) != len(listed):  # two files of one name in different folders
        for i, f in enumerate(listed):
            f["label"] = f"{part.name}/{i:05d}-{Path(f['path']).name}"
    return {"source": source, "files": listed}


def _write_blend(engine, index: int, run_config, run_id: str, name: str, blend: str, config: BlendConfig, mix, tokenizer_path: str,
                 parts: list[dict], staged: dict[str, dict], final_dir: Path) -> dict:
    """One blend: its parts' files as the shards of a mix whose buckets are the parts."""
    from curate.mix.manifest import card_summary
    from curate.run.mix_passes import BLEND_PART, run_mix
    from curate.schema import DOCUMENT_SCHEMA

    shards = []
    for part, found in zip(config.parts, parts, strict=True):
        if found["files"] is None:  # a phase of this command: its shards are in the staging folder
            found["files"] = [{"read": s["path"], "path": s["path"], "rows": s["rows"], "label": f"{part.name}/{Path(s['path']).name}"}
                              for s in staged[found["phase"]]["shards"]]
        shards += [{"path": f["read"], "rows": f["rows"], "part": part.name, "label": f["label"]} for f in found["files"]]
    # the document columns a trainer may use (no html: extraction dropped it) and the part
    schema = pa.schema([f for f in DOCUMENT_SCHEMA if f.name != "html"] + [pa.field(BLEND_PART, pa.string())])
    documents_in = sum(s["rows"] for s in shards)
    prefix = f"mix/{name}/{blend}"
    pass_name = f"blend-{blend}"
    manifest = run_mix(engine, index, dataclasses.replace(run_config, mix=mix, mix_tokenizer_path=tokenizer_path), shards, documents_in,
                       schema, run_id, prefix=prefix, pass_name=pass_name)
    if not manifest["ledger"]["balanced"]:
        raise RunError(f"blend {name}/{blend}: ledger does not balance: {manifest['ledger']['explanation']}")
    # what each part read, with the hash its worker took of every file
    read = {r["label"]: r["input"] for r in engine.records[f"{pass_name}/annotate"].values()}
    manifest["parts"] = [{
        "name": part.name, "share": part.share, "source": found["source"], "rows": sum(f["rows"] for f in found["files"]),
        "files": [{"path": f["path"], "rows": f["rows"], **read[f["label"]]} for f in found["files"]],
    } for part, found in zip(config.parts, parts, strict=True)]
    path = final_dir / prefix / "mix.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    summary = card_summary(manifest, sha256_file(path), prefix)
    summary["parts"] = [{k: v for k, v in p.items() if k != "files"} | {"files": len(p["files"])} for p in manifest["parts"]]
    return summary


def verify_mixes(base: Path, card: dict, expect) -> None:
    """``curate audit``: each named mix's listing and every phase, as the run's own mix is verified."""
    from curate.mix.manifest import verify as verify_mix

    mixes = card.get("mixes") or {}
    if (base / "mix").is_dir():
        for folder in sorted(p.name for p in (base / "mix").iterdir() if p.is_dir()):
            expect(folder in ("data", "not_selected", "tokens") or folder in mixes, f"mix/{folder}: folder on disk is not a mix the card lists")
    for name, summary in mixes.items():
        listing = base / summary["manifest"]["path"]
        if not expect(listing.is_file(), f"{summary['manifest']['path']}: listed in the card but missing"):
            continue
        expect(sha256_file(listing) == summary["manifest"]["sha256"], f"{summary['manifest']['path']}: sha256 differs from the card")
        blends = summary.get("blends") or {}
        on_disk = sorted(p.name for p in (base / "mix" / name).iterdir() if p.is_dir())
        listed = sorted([*summary["phases"], *blends])
        expect(on_disk == listed, f"mix/{name}: phases and blends on disk {on_disk} != card {listed}")
        for phase_summary in summary["phases"].values():
            verify_mix(base, phase_summary, card["ledger"]["kept"], expect)
        for blend, blend_summary in blends.items():
            manifest_path = base / blend_summary["manifest"]["path"]
            if not manifest_path.is_file():
                expect(False, f"{blend_summary['manifest']['path']}: listed in the card but missing")
                continue
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            rows_in = 0
            for part in manifest.get("parts", []):
                for f in part["files"]:
                    rows_in += f["rows"]
                    # a source inside OUT must be as the blend read it; one outside is checked where it still exists
                    source = Path(f["path"]) if Path(f["path"]).is_absolute() else base / f["path"]
                    if Path(f["path"]).is_absolute() and not source.exists():
                        continue
                    if expect(source.is_file(), f"mix/{name}/{blend}: part {part['name']}: {f['path']} is missing"):
                        expect(sha256_file(source) == f["sha256"], f"mix/{name}/{blend}: part {part['name']}: {f['path']} differs from what the blend read")
            expect(rows_in == blend_summary["totals"]["documents_in"],
                   f"mix/{name}/{blend}: its parts list {rows_in} rows, the blend read {blend_summary['totals']['documents_in']}")
            verify_mix(base, blend_summary, rows_in, expect)
