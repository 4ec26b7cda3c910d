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

import pyarrow.parquet as pq
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from curate.hashing import sha256_file
from curate.run import out as out_mod
from curate.run.units import RunError

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class RemixError(Exception):
    """A mix that cannot start: a bad config, a run without shards, a name already taken."""


class RemixConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phases: dict[str, dict] = Field(min_length=1, description="phase name -> a mix (the pipeline's mix: section)")

    @field_validator("phases")
    @classmethod
    def _names(cls, value: dict[str, dict]) -> dict[str, dict]:
        bad = [name for name in value if not _NAME.match(name)]
        if bad:
            raise ValueError(f"phase names are letters, digits, '_' and '-': {bad}")
        return value


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


def load_remix_config(path: Path, run_config) -> dict[str, tuple]:
    """{phase: (MixConfig, tokenizer path)}, each checked against the run's columns."""
    from curate.config import ConfigError, _parse_mix

    if not path.is_file():
        raise RemixError(f"{path}: no such mix config")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise RemixError(f"{path}: not valid YAML: {e}") from None
    try:
        config = RemixConfig.model_validate(data or {})
    except ValidationError as e:
        raise RemixError("; ".join(f"{path}: {'.'.join(map(str, i['loc']))}: {i['msg']}" for i in e.errors())) from None
    phases = {}
    for name, body in config.phases.items():
        try:
            phases[name] = _parse_mix(body or {}, list(run_config.stages), f"{path}: phases.{name}")
        except ConfigError as e:
            raise RemixError(str(e).replace(f"phases.{name}: mix.", f"phases.{name}.")) from None
    return phases


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
    if (target.exists() or name in card.get("mixes", {})) and not force:
        raise RemixError(f"{target}: a mix named {name!r} exists; choose another name or pass --force to replace it")
    run_config = _run_config(card, str(card_file))
    phases = load_remix_config(Path(config_path), run_config)
    data_rows = [r for r in card["output"]["data"] if r["rows"]]
    if not data_rows:
        raise RemixError(f"{out_dir}: the run kept no document: nothing to mix")
    shards = [{"path": str(out_dir / r["path"]), "rows": r["rows"]} for r in data_rows]
    # the committed shards' own schema: the document columns plus every column the stages added
    schema = pq.read_schema(out_dir / data_rows[0]["path"]).remove_metadata()
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

        manifests = {}
        try:
            for index, (phase, (mix, tokenizer_path)) in enumerate(phases.items()):
                config = dataclasses.replace(run_config, mix=mix, mix_tokenizer_path=tokenizer_path)
                prefix = f"mix/{name}/{phase}"
                manifest = run_mix(engine, index, config, shards, documents_in, schema, card["run_id"], prefix=prefix,
                                   pass_name=f"remix-{phase}")
                if not manifest["ledger"]["balanced"]:
                    raise RunError(f"mix {name}/{phase}: ledger does not balance: {manifest['ledger']['explanation']}")
                manifests[phase] = card_summary(manifest, sha256_file(final_dir / prefix / "mix.json"), prefix)
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
        }
        index_path = final_dir / "mix" / name / "mix.json"
        # the listing of the phases; volatile fields (the time) stay in the card, so equal inputs give equal bytes
        stable = {k: v for k, v in summary.items() if k != "created"}
        index_path.write_text(json.dumps(stable, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        summary["manifest"] = {"path": f"mix/{name}/mix.json", "sha256": sha256_file(index_path)}

        # commit: the whole folder in one rename, then the card (a temporary file and a rename)
        (out_dir / "mix").mkdir(exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        os.replace(final_dir / "mix" / name, target)
        card.setdefault("mixes", {})[name] = summary
        card_mod.write_card(card, out_dir, None)
        shutil.rmtree(staging, ignore_errors=True)
        return summary
    finally:
        out_mod.release_lock(control)


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
        on_disk = sorted(p.name for p in (base / "mix" / name).iterdir() if p.is_dir())
        expect(on_disk == sorted(summary["phases"]), f"mix/{name}: phases on disk {on_disk} != card {sorted(summary['phases'])}")
        for phase_summary in summary["phases"].values():
            verify_mix(base, phase_summary, card["ledger"]["kept"], expect)
