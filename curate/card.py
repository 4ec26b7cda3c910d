"""The dataset card of a run: ``card.json`` (for machines and `curate audit`) and ``README.md``
(a Hugging Face dataset card whose YAML header points at ``data/``), plus plots.

A card holds counts, hashes, parameters and versions — never document text, so it cannot leak
what the documents contain.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

import curate
from curate.config import PipelineConfig
from curate.hashing import sha256_tree

CARD_FORMAT = "curate-card/1"
READ_STAGE = "read"
_PACKAGES = [
    "ray", "pyarrow", "trafilatura", "warcio", "lxml", "datasketch", "fasttext-numpy2-wheel",
    "transformers", "torch", "numpy", "pydantic", "zstandard", "xxhash",
]


def make_run_id(config: PipelineConfig, started_wall: float) -> str:
    stamp = dt.datetime.fromtimestamp(started_wall, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{config.name}-{stamp}-{config.config_hash()[:8]}"


def _git_commit() -> dict:
    root = Path(curate.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10)
        return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version(), "curate": curate.__version__}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def input_fingerprint(files: list[dict]) -> str:
    h = hashlib.sha256()
    for f in sorted(files, key=lambda r: r["source"]):
        h.update(f"{f['source']}\t{f['bytes']}\t{f['sha256']}\n".encode())
    return h.hexdigest()


def size_category(n: int) -> str:
    for limit, label in [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                         (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]:
        if n < limit:
            return label
    return "n>1B"


def compute_ledger(stage_names: list[str], shard_rows: list[dict], snapshot: dict, extra: dict | None = None) -> tuple[dict, list[dict]]:
    """The ledger from the shards on disk, checked against the committed units' own counts.

    input (documents the readers emitted, kept or rejected) must equal
    kept (rows in data shards) + Σ rejected (rows in reject shards, by stage and reason);
    each stage's committed counts (the sum of its units' records — a unit that ran twice is
    committed once) must agree with what the files say; with ``extra``, every per-document unit
    must be consistent in itself, and the ids in the shards must be the ids the readers emitted.
    """
    extra = extra or {}
    kept = sum(r["rows"] for r in shard_rows if r["kind"] == "data")
    by_reason: dict[str, int] = defaultdict(int)
    for r in shard_rows:
        if r["kind"] == "rejects":
            for key, n in json.loads(r["reasons"]).items():
                by_reason[key] += n
    rejected_total = sum(by_reason.values())
    worker_stages = snapshot["stages"]
    input_docs = int(worker_stages.get(READ_STAGE, {}).get("rows_in", 0))
    problems = []
    sums_up = input_docs == kept + rejected_total
    if not sums_up:
        problems.append(f"the readers emitted {input_docs} documents but the shards hold {kept} kept + {rejected_total} rejected "
                        f"= {kept + rejected_total}")

    stages = []
    remaining = input_docs
    for name in [READ_STAGE, *stage_names]:
        reasons = {k.split("/", 1)[1]: v for k, v in sorted(by_reason.items()) if k.split("/", 1)[0] == name}
        rejected = sum(reasons.values())
        docs_in = remaining if name != READ_STAGE else input_docs
        kept_here = docs_in - rejected
        w = worker_stages.get(name, {"rows_in": 0, "kept": 0, "rejected": 0, "busy_s": 0.0, "batches": 0, "counters": {}})
        if (int(w["rows_in"]), int(w["kept"]), int(w["rejected"])) != (docs_in, kept_here, rejected):
            problems.append(
                f"stage {name}: the shards say in={docs_in} kept={kept_here} rejected={rejected}, "
                f"its committed units counted in={int(w['rows_in'])} kept={int(w['kept'])} rejected={int(w['rejected'])}"
            )
        busy = float(w["busy_s"])
        stages.append({
            "stage": name,
            "documents_in": docs_in,
            "kept": kept_here,
            "rejected": rejected,
            "rejected_by_reason": reasons,
            "busy_seconds": round(busy, 3),
            # Building the stage and loading its model, once per worker (not in busy_seconds).
            "setup_seconds": round(float(w.get("setup_s", 0.0)), 3),
            "documents_per_busy_second": round(docs_in / busy, 1) if busy > 0 else None,
            "counters": {k: (int(v) if float(v).is_integer() else round(v, 3)) for k, v in sorted(w["counters"].items())},
        })
        remaining = kept_here
    if stages and stages[-1]["kept"] != kept:
        problems.append(f"last stage kept {stages[-1]['kept']} but data shards hold {kept}")
    problems += extra.get("unit_problems", [])
    ids = extra.get("ids")
    if ids is not None and not ids["match"]:
        problems.append(f"the shards hold {ids['written']['documents']} ids (sum {ids['written']['id_sum']}) but the readers emitted "
                        f"{ids['read']['documents']} (sum {ids['read']['id_sum']}): a document was lost, duplicated or invented")
    ledger = {
        "input_documents": input_docs,
        "kept": kept,
        "rejected_total": rejected_total,
        "rejected_by_stage_reason": dict(sorted(by_reason.items())),
        # "≠" when the totals themselves do not add up; a balanced-looking sum with a disagreeing
        # stage is explained below it, never shown as wrong arithmetic.
        "equation": f"{input_docs} {'=' if sums_up else '≠'} {kept} + {rejected_total}",
        "balanced": not problems,
        "explanation": "; ".join(problems) if problems else "input = kept + sum of rejected by reason; every stage's committed counts agree with the files",
    }
    if ids is not None:
        ledger["ids"] = ids
    return ledger, stages


def build_card(
    *,
    run_id: str,
    config: PipelineConfig,
    corpus: str,
    out_dir: Path,
    started_wall: float,
    wall_s: float,
    ray_info: dict,
    num_shards: int,
    shard_rows: list[dict],
    snapshot: dict,
    skipped_inputs: list[str],
    final_schema: pa.Schema,
    mix: dict | None = None,
    mix_sha256: str | None = None,
    ledger_extra: dict | None = None,
    checkpoints: dict | None = None,
    shards_root: Path | None = None,
) -> dict[str, Any]:
    stage_names = [s.cls.name for s in config.stages]
    ledger, stages = compute_ledger(stage_names, shard_rows, snapshot, ledger_extra)
    provenance = {s.cls.name: s.provenance() for s in config.stages}
    for entry in stages:
        if entry["stage"] in provenance:
            entry["version"] = provenance[entry["stage"]]["version"]
            entry["params"] = provenance[entry["stage"]]["params"]
    for entry in stages:
        if entry["stage"] in snapshot.get("top", {}):
            entry["most_repeated"] = snapshot["top"][entry["stage"]]
    for resolved in config.stages:
        counts = snapshot.get("histograms", {}).get(resolved.cls.name, {})
        specs = resolved.cls.score_histograms(resolved.params)
        entry = next((e for e in stages if e["stage"] == resolved.cls.name), None)
        if entry is not None and specs:
            entry["score_histograms"] = {
                column: {"low": spec.low, "high": spec.high, "bins": spec.bins, "thresholds": list(spec.thresholds),
                         "label": spec.label or column, "counts": counts.get(column, [0] * spec.bins)}
                for column, spec in specs.items()
            }
    files = snapshot["files"]
    data = sorted((r for r in shard_rows if r["kind"] == "data"), key=lambda r: r["path"])
    rejects = sorted((r for r in shard_rows if r["kind"] == "rejects"), key=lambda r: r["path"])
    strip = lambda r: {k: r[k] for k in ("path", "rows", "bytes", "sha256")}
    card = {
        "format": CARD_FORMAT,
        "run_id": run_id,
        "created": dt.datetime.fromtimestamp(started_wall, dt.UTC).isoformat(timespec="seconds"),
        "code": {"curate_version": curate.__version__, **_git_commit()},
        "pipeline": {
            "name": config.name,
            "path": config.source_path,
            "config_sha256": config.config_hash(),
            "resolved": config.resolved(),
        },
        "input": {
            "corpus": corpus,
            "files": files,
            "file_count": len(files),
            "bytes": sum(f["bytes"] for f in files),
            "fingerprint_sha256": input_fingerprint(files),
            "skipped_files": skipped_inputs,
        },
        "environment": {"versions": _versions(), "ray": ray_info, "models": _models(config)},
        "stages": stages,
        "output": {
            "root": str(out_dir),
            "num_shards_planned": num_shards,
            "schema": [{"name": f.name, "type": str(f.type)} for f in final_schema],
            "data": [strip(r) for r in data],
            "rejects": [strip(r) for r in rejects],
        },
        "ledger": ledger,
        "dedup": dedup_summary(stages),
        "pii": pii_summary(stages),
        "extraction": extraction_summary(stages),
        "url_filter": url_filter_summary(stages),
        "decontamination": decontamination_summary(stages),
        "timing": {"wall_seconds": round(wall_s, 2), "documents_per_second": round(ledger["input_documents"] / wall_s, 1) if wall_s else None},
    }
    card["quality_filters"] = quality_filter_summary(stages, config, shards_root or out_dir, data, rejects)
    card["student_audit"] = student_audit(stages)
    card["warnings"] = [row["warning"] for row in card["student_audit"] if row.get("warning")]
    if checkpoints is not None:
        card["checkpoints"] = checkpoints
    if mix is not None:
        from curate.mix.manifest import card_summary

        card["mix"] = card_summary(mix, mix_sha256)
    return card


def dedup_summary(stages: list[dict]) -> dict:
    """What each dedup level removed, the near-duplicate cluster sizes and the most repeated lines.

    Built from the per-stage entries (so from counts and hashes only, never text): a stage is a
    dedup level when its name ends in ``_dedup``.
    """
    levels = {}
    cluster_sizes: dict[int, int] = {}
    for entry in stages:
        if not entry["stage"].endswith("_dedup"):
            continue
        counters = entry["counters"]
        level = {"documents_in": entry["documents_in"], "documents_removed": entry["rejected"], "by_reason": entry["rejected_by_reason"]}
        for key in ("lines_in", "lines_removed", "documents_with_lines_removed", "frequent_keys", "buckets",
                    "clusters", "documents_in_clusters", "candidate_pairs", "verified_pairs"):
            if key in counters:
                level[key] = counters[key]
        if "most_repeated" in entry:
            level["most_repeated"] = entry["most_repeated"]
        levels[entry["stage"]] = level
        for key, n in counters.items():
            if key.startswith("cluster_size_"):
                size = int(key.removeprefix("cluster_size_"))
                cluster_sizes[size] = cluster_sizes.get(size, 0) + int(n)
    return {
        "levels": levels,
        "documents_removed": sum(level["documents_removed"] for level in levels.values()),
        # Near-duplicate components (MinHash): component size -> how many components had it.
        "cluster_sizes": {str(k): v for k, v in sorted(cluster_sizes.items())},
    }


EXTRACTION_PATHS = (
    ("container", "documents_container", "main container alone (trafilatura, fast mode)"),
    ("trafilatura", "documents_extracted", "whole page (trafilatura; readability and jusText compared where it is unsure)"),
    ("fallback", "documents_fallback", "whole page, balanced retry after a short precision pass"),
    ("passthrough", "documents_passthrough", "text given, no HTML"),
)


def extraction_summary(stages: list[dict]) -> dict | None:
    """Which path produced each kept document of the HTML extraction stage (its counters), so a
    reader sees how much of the text came from the main-container shortcut. None without one."""
    entry = next((e for e in stages if "documents_passthrough" in e["counters"]), None)
    if entry is None:
        return None
    counters = entry["counters"]
    return {
        "stage": entry["stage"],
        "documents_in": entry["documents_in"],
        "by_path": {path: int(counters.get(key, 0)) for path, key, _ in EXTRACTION_PATHS},
        "rejected": entry["rejected"],
        "strategy": entry.get("params", {}).get("strategy"),
        # whole-page passes (the trafilatura and fallback paths) with and without trafilatura's
        # comparison with readability and jusText (run where the main text is short or has no <p>)
        "whole_page_comparisons": {"ran": int(counters.get("whole_page_comparisons", 0)),
                                   "skipped": int(counters.get("whole_page_comparisons_skipped", 0))},
    }


def _extraction_section(extraction: dict | None) -> list[str]:
    if not extraction:
        return []
    lines = ["## Extraction paths", "",
             f"`{extraction['stage']}` (strategy `{extraction['strategy']}`) read {extraction['documents_in']} documents "
             f"and rejected {extraction['rejected']}; the `extraction` column of every kept document names its path.", "",
             "| path | what produced the text | documents |", "|---|---|---:|"]
    lines += [f"| {path} | {what} | {extraction['by_path'][path]} |" for path, _, what in EXTRACTION_PATHS]
    compared = extraction.get("whole_page_comparisons")
    if compared and (compared["ran"] or compared["skipped"]):
        lines += ["", f"Whole-page passes: {compared['ran'] + compared['skipped']}; trafilatura's comparison with readability and "
                      f"jusText ran in {compared['ran']} (main text short or without paragraphs) and was skipped in {compared['skipped']}."]
    return lines + [""]


def url_filter_summary(stages: list[dict]) -> dict | None:
    """Pages the URL filter removed, per block-list category and for banned URL words (from its
    counters; the reject rows hold each page's category or word in their detail). None without one."""
    entry = next((e for e in stages if e["stage"] == "url_filter"), None)
    if entry is None:
        return None
    counters, params = entry["counters"], entry.get("params", {})
    categories = [*params.get("categories", []), *(["deny"] if params.get("deny_domains") else [])]
    by_category = {c: int(counters.get(f"rejected_{c}", 0)) for c in categories}
    by_category.update({k[len("rejected_"):]: int(v) for k, v in counters.items()
                        if k.startswith("rejected_") and k != "rejected_banned_word" and k[len("rejected_"):] not in by_category})
    return {
        "stage": entry["stage"],
        "documents_in": entry["documents_in"],
        "by_category": by_category,
        "banned_word": int(counters.get("rejected_banned_word", 0)),
        "without_url": int(counters.get("documents_without_url", 0)),
        "allow_domains": len(params.get("allow_domains", [])),
        "deny_domains": len(params.get("deny_domains", [])),
    }


def _url_filter_section(summary: dict | None) -> list[str]:
    if not summary:
        return []
    lines = ["## URL filter", "",
             f"`{summary['stage']}` read {summary['documents_in']} documents ({summary['without_url']} without a URL, kept); "
             f"the run's allow list holds {summary['allow_domains']} domains and its deny list {summary['deny_domains']}. "
             "Reject rows name the category or the word in their detail.", "",
             "| removed by | documents |", "|---|---:|"]
    lines += [f"| block list `{category}` | {n} |" for category, n in summary["by_category"].items()]
    lines += [f"| banned URL words | {summary['banned_word']} |", ""]
    return lines


def decontamination_summary(stages: list[dict]) -> dict | None:
    """Per benchmark the decontamination stage was given: documents it contaminated (removed, or
    marked with ``action: mark``) and the benchmark n-grams they held. None without the stage."""
    entry = next((e for e in stages if e["stage"] == "decontaminate"), None)
    if entry is None:
        return None
    params, counters = entry.get("params", {}), entry["counters"]
    names = [b["name"] for b in params.get("benchmarks", [])]
    return {
        "stage": entry["stage"],
        "documents_in": entry["documents_in"],
        "n": params.get("n"),
        "action": params.get("action"),
        "benchmarks": {name: {"documents": int(counters.get(f"contaminated_{name}", 0)),
                              "ngrams_matched": int(counters.get(f"ngrams_matched_{name}", 0))} for name in names},
    }


def _decontamination_section(summary: dict | None) -> list[str]:
    if not summary:
        return []
    lines = ["## Benchmark decontamination", ""]
    if not summary["benchmarks"]:
        return lines + [f"`{summary['stage']}` ran with no benchmark: nothing was checked (name yours under `benchmarks`).", ""]
    verb = "removed" if summary["action"] == "remove" else "marked"
    lines += [f"`{summary['stage']}` checked {summary['documents_in']} documents for {summary['n']}-word n-grams of each benchmark.", "",
              f"| benchmark | documents {verb} | benchmark n-grams they held |", "|---|---:|---:|"]
    lines += [f"| {name} | {v['documents']} | {v['ngrams_matched']} |" for name, v in summary["benchmarks"].items()]
    return lines + [""]


def pii_summary(stages: list[dict]) -> dict | None:
    """PII found per type (occurrences and documents), from the PII stage's counters: counts only,
    never a value. None when no stage scrubbed PII."""
    entry = next((e for e in stages if "pii_documents" in e["counters"]), None)
    if entry is None:
        return None
    counters = entry["counters"]
    by_type = {}
    for key, n in counters.items():
        if key.startswith("pii_documents_"):
            kind = key.removeprefix("pii_documents_")
            by_type[kind] = {"occurrences": counters.get(f"pii_{kind}", 0), "documents": n}
    return {
        "stage": entry["stage"],
        "documents_scanned": entry["documents_in"] - entry["rejected_by_reason"].get("pii_domain", 0),
        "documents_with_pii": counters["pii_documents"],
        "documents_rejected_pii_domain": entry["rejected_by_reason"].get("pii_domain", 0),
        "replacement": entry.get("params", {}).get("replacement"),
        "by_type": dict(sorted(by_type.items())),
    }


def _models(config: PipelineConfig) -> list[dict]:
    """The models stages load, with a content hash for local ones so an auditor can tell them apart."""
    models = []
    for resolved in config.stages:
        for model in resolved.cls.models(resolved.params):
            entry = dict(model)
            path = Path(model["model"])
            if path.is_dir():
                entry["sha256"] = sha256_tree(path)
            models.append(entry)
    return models


def _pii_section(pii: dict | None) -> list[str]:
    if not pii:
        return []
    lines = [
        "## PII",
        "",
        f"`{pii['stage']}` scanned {pii['documents_scanned']} documents and replaced PII in {pii['documents_with_pii']} "
        f"({pii['replacement']}s); {pii['documents_rejected_pii_domain']} documents were rejected by the PII domain blocklist. "
        "Counts only: no value is recorded anywhere in this card.",
        "",
        "| type | occurrences | documents |",
        "|---|---:|---:|",
    ]
    lines += [f"| {kind} | {v['occurrences']} | {v['documents']} |" for kind, v in pii["by_type"].items()]
    return lines + [""]


def _plot_score_histograms(entry: dict, path: Path) -> None:
    """One panel per score column of a stage: the distribution over every scored document, and
    the thresholds the stage applied as dashed lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    histograms = entry["score_histograms"]
    columns = 3
    rows = (len(histograms) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.6 * rows), squeeze=False)
    drawn_any = False
    for ax, (column, h) in zip(axes.flat, histograms.items(), strict=False):
        width = (h["high"] - h["low"]) / h["bins"]
        # One step patch per panel rather than a rectangle per bin: the card is drawn by the driver,
        # and a stage with 40 score columns made the bars its largest CPU cost.
        ax.stairs(h["counts"], [h["low"] + width * i for i in range(h["bins"] + 1)], fill=True, color="#4c72b0")
        shown = [t for t in h["thresholds"] if h["low"] <= t <= h["high"]]
        for threshold in shown:
            ax.axvline(threshold, color="#c44e52", linestyle="--", linewidth=1.2)
        drawn_any = drawn_any or bool(shown)
        if any(h["counts"]):
            ax.set_yscale("log")  # the mass sits near 0; the tail past the threshold is what matters
            ax.yaxis.set_minor_locator(NullLocator())  # minor log ticks cost more to draw than the data
        off_axis = [t for t in h["thresholds"] if t not in shown]
        # a threshold past the axis is named rather than silently missing from the panel
        ax.set_title(h["label"] + (f" (threshold {', '.join(f'{t:g}' for t in off_axis)} off the axis)" if off_axis else ""), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(histograms):]:
        ax.axis("off")
    fig.suptitle(f"{entry['stage']}: score distributions" + (" (dashed: thresholds)" if drawn_any else " (no threshold applied)"), fontsize=10)
    # Fixed margins: tight_layout measures every tick label of every panel.
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.6 / (2.6 * rows), top=1 - 0.7 / (2.6 * rows), hspace=0.55, wspace=0.25)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _scores_section(card: dict) -> list[str]:
    entries = [e for e in card["stages"] if e.get("score_histograms")]
    if not entries:
        return []
    lines = ["## Quality scores", ""]
    for e in entries:
        reasons = ", ".join(f"{k}: {v}" for k, v in e["rejected_by_reason"].items()) or "none"
        lines += [f"`{e['stage']}` — removed by rule: {reasons}.", "", f"![{e['stage']} scores](plots/scores_{e['stage']}.png)", ""]
    lines += _quality_filter_lines(card)
    lines += _audit_lines(card)
    return lines


def student_audit(stages: list[dict]) -> list[dict]:
    """Student-teacher agreement, from a teacher stage's ``audit_<name>_documents/agree`` counters,
    with a warning where it is below the stage's ``agreement_floors[<name>]``."""
    rows = []
    for entry in stages:
        counters = entry.get("counters", {})
        floors = entry.get("params", {}).get("agreement_floors") or {}
        for key, documents in sorted(counters.items()):
            if key.startswith("audit_") and key.endswith("_documents") and documents:
                name = key[len("audit_"):-len("_documents")]
                floor = floors.get(name)
                agree = counters.get(f"audit_{name}_agree", 0)
                row = {"student": name, "teacher_stage": entry["stage"], "documents": int(documents), "agree": int(agree),
                       "agreement": round(agree / documents, 4), "floor": floor}
                if floor is not None and agree / documents < floor:
                    row["warning"] = (f"student {name} agrees with its teacher ({entry['stage']}) on {agree / documents:.1%} of "
                                      f"{int(documents):,} audited documents, below the floor {floor:.0%}: it is scoring text "
                                      "unlike what it learned from; check its scores before trusting its filter")
                rows.append(row)
    return rows


def _audit_lines(card: dict) -> list[str]:
    rows = card.get("student_audit")
    if rows is None:
        rows = student_audit(card["stages"])
    if not rows:
        return []
    lines = ["Students against their teacher on this run's audit sample (same side of 0.5 for quality, same top",
             "label for domain and topic):", "", "| student | teacher stage | documents | agreement | floor |", "|---|---|---:|---:|---:|"]
    for row in rows:
        floor = "—" if row["floor"] is None else f"{row['floor']:.0%}"
        flag = " **below the floor**" if row.get("warning") else ""
        lines.append(f"| {row['student']} | `{row['teacher_stage']}` | {row['documents']:,} | {row['agreement']:.1%}{flag} | {floor} |")
    return lines + [""]


# How many removed and kept documents a quality filter's card section names, by id.
FILTER_EXAMPLES = 5


def quality_filter_summary(stages: list[dict], config: PipelineConfig, root: Path, data: list[dict], rejects: list[dict]) -> list[dict]:
    """Per model-based filter (a stage class with ``filter_score = (column, reason)`` and a
    threshold set): what it removed, what it only labelled (languages it was not trained for), and a
    few removed and kept ids with their scores — the removed from the reject shards (the
    lowest-scoring), the kept from the first data shard (the nearest above the threshold: the pages
    an auditor should look at to judge the cut)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out = []
    by_name = {entry["stage"]: entry for entry in stages}
    for resolved in config.stages:
        spec = getattr(resolved.cls, "filter_score", None)
        threshold = getattr(resolved.params, "min_score", 0.0) if spec else 0.0
        entry = by_name.get(resolved.cls.name)
        if not spec or not threshold or entry is None:
            continue
        column, reason = spec
        counters = entry.get("counters", {})
        summary = {
            "stage": resolved.cls.name, "column": column, "threshold": threshold,
            "languages": list(getattr(resolved.params, "languages", []) or []),
            "documents_in": entry["documents_in"], "scored": int(counters.get("documents_scored", 0)),
            "removed": int(entry["rejected_by_reason"].get(reason, 0)),
            "outside_languages": int(counters.get("documents_outside_languages", 0)),
            "below_threshold_outside_languages": int(counters.get("below_threshold_outside_languages", 0)),
        }
        removed = []
        for shard in rejects:
            path = Path(root) / shard["path"]
            if path.is_file():
                table = pq.read_table(path, columns=["id", "stage", "reason", "detail"])
                mask = pc.and_(pc.equal(table["stage"], resolved.cls.name), pc.equal(table["reason"], reason))
                removed += table.filter(mask).select(["id", "detail"]).to_pylist()
        # detail is "<column>=<score><<threshold>": the score is what the row was removed for.
        score_of = lambda d: float(d.split("=", 1)[1].split("<", 1)[0]) if d and "=" in d else float("nan")
        removed = sorted(({"id": r["id"], "score": score_of(r["detail"])} for r in removed), key=lambda r: (r["score"], r["id"]))
        summary["removed_examples"] = removed[:FILTER_EXAMPLES]
        kept = []
        if data and (Path(root) / data[0]["path"]).is_file():
            table = pq.read_table(Path(root) / data[0]["path"], columns=["id", column])
            rows = [r for r in table.to_pylist() if r[column] is not None and r[column] >= threshold]
            kept = sorted(({"id": r["id"], "score": round(float(r[column]), 4)} for r in rows), key=lambda r: (r["score"], r["id"]))
        summary["kept_examples"] = kept[:FILTER_EXAMPLES]
        out.append(summary)
    return out


def _quality_filter_lines(card: dict) -> list[str]:
    lines = []
    for f in card.get("quality_filters") or []:
        languages = ", ".join(f["languages"]) if f["languages"] else "every language"
        lines += [f"`{f['stage']}` removed **{f['removed']:,}** of {f['documents_in']:,} documents with {f['column']} < {f['threshold']} "
                  f"(applied to {languages}). {f['outside_languages']:,} documents in other languages were scored and kept "
                  f"({f['below_threshold_outside_languages']:,} of them below the threshold): the model did not learn them.", ""]
        if f["removed_examples"] or f["kept_examples"]:
            lines += ["| removed (lowest scores) | score | kept, nearest above the threshold | score |", "|---|---:|---|---:|"]
            for i in range(max(len(f["removed_examples"]), len(f["kept_examples"]))):
                r = f["removed_examples"][i] if i < len(f["removed_examples"]) else None
                k = f["kept_examples"][i] if i < len(f["kept_examples"]) else None
                lines.append(f"| {'`' + r['id'] + '`' if r else ''} | {r['score'] if r else ''} | {'`' + k['id'] + '`' if k else ''} | {k['score'] if k else ''} |")
            lines.append("")
    return lines


def _plot_cluster_sizes(card: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = {int(k): v for k, v in card["dedup"]["cluster_sizes"].items()}
    fig, ax = plt.subplots(figsize=(7, 3.2))
    if sizes:
        bars = ax.bar([str(k) for k in sizes], list(sizes.values()), color="#5f3dc4")
        ax.bar_label(bars, fontsize=8)
        ax.set_yscale("log")  # real cluster sizes are heavy-tailed
    else:
        ax.text(0.5, 0.5, "no near-duplicate clusters", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("documents in the near-duplicate cluster")
    ax.set_ylabel("clusters")
    ax.set_title("Near-duplicate cluster sizes (one survivor per cluster)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_ledger(card: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, values, colors = ["kept"], [card["ledger"]["kept"]], ["#2b8a3e"]
    for key, n in card["ledger"]["rejected_by_stage_reason"].items():
        labels.append(key)
        values.append(n)
        colors.append("#c92a2a")
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(labels) + 1.2))
    ax.barh(labels[::-1], values[::-1], color=colors[::-1])
    for y, v in enumerate(values[::-1]):
        ax.text(v, y, f" {v}", va="center", fontsize=8)
    ax.set_xlabel("documents")
    ax.set_title(f"Ledger: {card['ledger']['equation']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_funnel(card: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s["stage"] for s in card["stages"]]
    kept = [s["kept"] for s in card["stages"]]
    # horizontal bars, first stage on top: twenty stage names never overlap as x labels did
    fig, ax = plt.subplots(figsize=(8, 0.8 + 0.28 * len(names)))
    ax.barh(names, [s["documents_in"] for s in card["stages"]], color="#dee2e6", label="in")
    ax.barh(names, kept, color="#1971c2", label="kept")
    ax.invert_yaxis()
    ax.set_xlabel("documents")
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title("Documents in and kept per stage")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _languages(card: dict) -> list[str]:
    """The languages language ID counted (most documents first), for the Hugging Face header;
    ``mul`` when no stage labelled languages."""
    counts: dict[str, float] = {}
    for entry in card["stages"]:
        if entry["stage"] == "lang_id":
            counts = {k.removeprefix("lang_"): v for k, v in entry["counters"].items() if k.startswith("lang_") and k != "lang_und"}
    return [code for code, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))] or ["mul"]


def render_readme(card: dict) -> str:
    ledger = card["ledger"]
    header = {
        # the documents keep their sources' terms; the "License" section of the card says so
        "license": "other",
        "license_name": "per-source-terms",
        "license_link": "README.md#license",
        "pretty_name": f"curate run {card['run_id']}",
        "language": _languages(card),
        "size_categories": [size_category(ledger["kept"])],
        "task_categories": ["text-generation"],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}]
        + ([{"config_name": "mix", "data_files": [{"split": "train", "path": "mix/data/*.parquet"}]}] if card.get("mix") else []),
        "curate": {"run_id": card["run_id"], "card_format": card["format"], "config_sha256": card["pipeline"]["config_sha256"]},
    }
    lines = ["---", yaml.safe_dump(header, sort_keys=False).rstrip(), "---", ""]
    lines += [
        f"# curate run `{card['run_id']}`",
        "",
        f"Pipeline **{card['pipeline']['name']}** (config sha256 `{card['pipeline']['config_sha256'][:16]}…`) "
        f"over `{card['input']['corpus']}`: {card['input']['file_count']} input files, "
        f"{card['input']['bytes']:,} bytes (fingerprint `{card['input']['fingerprint_sha256'][:16]}…`).",
        f"Code: curate {card['code']['curate_version']}, commit `{card['code']['commit'] or 'unknown'}`"
        + (" (uncommitted changes)" if card["code"].get("dirty") else "") + ".",
        f"Ran on Ray ({card['environment']['ray']['mode']}, {card['environment']['ray']['nodes']} node(s), "
        f"{card['environment']['ray']['cpus']} CPUs) in {card['timing']['wall_seconds']} s.",
        "",
        "The text licence is that of the crawled pages; this card records provenance, not rights.",
        "",
        *[f"> **Warning:** {w}" for w in card.get("warnings") or []],
        *([""] if card.get("warnings") else []),
        "## Ledger",
        "",
        f"**{ledger['equation']}** (input = kept + Σ rejected) — "
        + ("balanced." if ledger["balanced"] else f"NOT balanced: {ledger['explanation']}"),
        "",
        "| stage | in | kept | rejected | by reason | docs/s (busy) |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for s in card["stages"]:
        reasons = ", ".join(f"{k}: {v}" for k, v in s["rejected_by_reason"].items()) or "—"
        lines.append(f"| {s['stage']} | {s['documents_in']} | {s['kept']} | {s['rejected']} | {reasons} | {s['documents_per_busy_second'] or '—'} |")
    lines += ["", "![ledger](plots/ledger.png)", "", "![stages](plots/stages.png)", ""]
    lines += _url_filter_section(card.get("url_filter"))
    lines += _decontamination_section(card.get("decontamination"))
    lines += _extraction_section(card.get("extraction"))
    lines += _pii_section(card.get("pii"))
    lines += _scores_section(card)
    lines += _dedup_section(card.get("dedup"))
    lines += _mix_section(card.get("mix"))
    for name, named in (card.get("mixes") or {}).items():
        lines += [f"## Mix `{name}` (`curate mix`, config sha256 `{named['config_sha256'][:16]}…`)", "",
                  f"Phases of this run's {named['documents_in']:,} kept documents, written by `curate mix` without re-running a stage.", ""]
        for phase, summary in named["phases"].items():
            lines += _mix_section(summary, title=f"### Phase `{phase}`", plot=False)
        for blend, summary in (named.get("blends") or {}).items():
            lines += [f"### Blend `{blend}`", "", "| part | source | files | rows read | target share |", "|---|---|---:|---:|---:|"]
            for part in summary["parts"]:
                source = ", ".join(f"{k}: `{v}`" for k, v in part["source"].items() if k != "kind")
                lines.append(f"| {part['name']} | {part['source']['kind']} ({source}) | {part['files']} | {part['rows']:,} | {part['share']:.1%} |")
            lines += [""] + _mix_section(summary, title=f"#### Blend `{blend}`: the mix", plot=False, inputs="rows read")
    lines += ["## Stages", ""]
    for s in card["stages"]:
        params = json.dumps(s.get("params", {}), sort_keys=True)
        lines.append(f"- `{s['stage']}` v{s.get('version', '1')} — params `{params}`; counters `{json.dumps(s['counters'], sort_keys=True)}`")
    lines += ["", "## Output", "", "| shard | documents | bytes | sha256 |", "|---|---:|---:|---|"]
    for r in card["output"]["data"]:
        lines.append(f"| {r['path']} | {r['rows']} | {r['bytes']} | `{r['sha256'][:16]}…` |")
    lines += ["", f"Rejects: {len(card['output']['rejects'])} shard(s) under `rejects/` (id, url, source, stage, reason, detail — no text).", ""]
    lines += ["## Verify", "", "```", f"curate audit {card['output']['root']}", "```", ""]
    lines += ["## License", "",
              "curate grants no licence to these documents: each keeps the terms of the site it was crawled from "
              "(and, for a Common Crawl archive, Common Crawl's terms of use). Check them before you redistribute "
              "or train on this data.", ""]
    return "\n".join(lines)


def _dedup_section(dedup: dict | None) -> list[str]:
    if not dedup or not dedup["levels"]:
        return []
    lines = ["## Deduplication", "", "| level | in | removed | by reason | notes |", "|---|---:|---:|---|---|"]
    for name, level in dedup["levels"].items():
        reasons = ", ".join(f"{k}: {v}" for k, v in level["by_reason"].items()) or "—"
        notes = []
        if "clusters" in level:
            notes.append(f"{level['clusters']} clusters over {level.get('documents_in_clusters', 0)} documents")
        if "lines_removed" in level:
            notes.append(f"{level['lines_removed']} of {level.get('lines_in', 0)} lines removed from {level.get('documents_with_lines_removed', 0)} documents")
        lines.append(f"| {name} | {level['documents_in']} | {level['documents_removed']} | {reasons} | {'; '.join(notes) or '—'} |")
    lines += ["", "![near-duplicate cluster sizes](plots/dedup_clusters.png)", ""]
    for name, level in dedup["levels"].items():
        if level.get("most_repeated"):
            lines += [
                f"Most repeated removed lines ({name}; line key = xxh3-64 of `bucket \\0 language \\0 normalised line`, "
                "text withheld: a repeated line can carry a name, which rule-based PII scrubbing does not catch):",
                "", "| line key | documents | example document |", "|---|---:|---|",
            ]
            lines += [f"| `{r['key']}` | {r['documents']} | `{r['example_document']}` |" for r in level["most_repeated"]]
            lines.append("")
    return lines


def _mix_section(mix: dict | None, title: str = "## Mix", plot: bool = True, inputs: str = "kept documents") -> list[str]:
    """Target against achieved per bucket (token shares), tokens before and after, repeats, and
    every unattainable target or binding cap in words."""
    if not mix:
        return []
    totals, ledger = mix["totals"], mix["ledger"]
    budget = mix["budget"]
    folder = mix["manifest"]["path"].rsplit("/", 1)[0] + "/"
    lines = [
        title,
        "",
        f"`{folder}`: {totals['shards']} shard(s), {totals['rows']:,} rows ({totals['documents']:,} documents + {totals['repeats']:,} repeats), "
        f"{totals['tokens']:,} tokens (`{mix['tokenizer']['reference']}`, sha256 `{mix['tokenizer']['sha256'][:16]}…`), "
        f"from {totals['documents_in']:,} {inputs} / {totals['tokens_in']:,} tokens. Budget: "
        + (f"as much as the scarcest bucket allows ({budget['tokens_target']:,.0f} tokens)" if budget["mode"] == "scarcest" else f"{budget['tokens_target']:,.0f} tokens")
        + f"; seed {mix['seed']}. Mix ledger: **{ledger['equation']}** (kept = mixed + `mix_not_selected`) — "
        + ("balanced." if ledger["balanced"] else f"NOT balanced: {ledger['explanation']}"),
        "",
        "| bucket | target | achieved | Δ pp | tokens before | tokens after | documents | repeats | epochs (max) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in mix["buckets"]:
        flag = "" if b["within_tolerance"] else " ⚠"
        lines.append(
            f"| {b['name']} | {b['target_share']:.1%} | {b['achieved_share']:.2%}{flag} | {b['deviation_pp']:+.2f} | {b['supply_tokens']:,} | "
            f"{b['tokens']:,} | {b['documents']:,} | {b['repeats']:,} | {b['epochs']:.2f} ({b['max_epochs']}) |"
        )
    if mix["unbucketed"]["documents"]:
        lines += ["", f"{mix['unbucketed']['documents']:,} documents ({mix['unbucketed']['tokens']:,} tokens) matched no bucket rule."]
    if mix["notes"]:
        lines += [""] + [f"- {note}" for note in mix["notes"]]
    lines += ["", "![mix: target vs achieved](plots/mix.png)" if plot else "", "",
              f"Load: `datasets.load_dataset(\"parquet\", data_files=\"{folder}data/*.parquet\")`; shards, sha256 and the trainer blend list are in `{folder}mix.json`.", ""]
    return lines


def _plot_mix(card: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    buckets = card["mix"]["buckets"]
    names = [b["name"] for b in buckets]
    x = range(len(names))
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(names) + 2), 3.4))
    target = ax.bar([i - 0.2 for i in x], [100 * b["target_share"] for b in buckets], width=0.4, color="#adb5bd", label="target")
    achieved = ax.bar([i + 0.2 for i in x], [100 * b["achieved_share"] for b in buckets], width=0.4,
                      color=["#2b8a3e" if b["within_tolerance"] else "#c92a2a" for b in buckets], label="achieved")
    ax.bar_label(target, fmt="%.1f", fontsize=8)
    ax.bar_label(achieved, fmt="%.1f", fontsize=8)
    ax.set_xticks(list(x), names)
    ax.set_ylabel("share of mix tokens (%)")
    ax.set_title("Mix: target vs achieved token share (red: off by > 0.5 pp)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_card(card: dict, out_dir: Path, cards_dir: Path | None) -> Path:
    """Write the card into ``out_dir`` (making it a Hugging Face dataset folder) and, with
    ``cards_dir``, a copy under ``cards_dir/<run-id>/``."""
    plots = out_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    _plot_ledger(card, plots / "ledger.png")
    _plot_funnel(card, plots / "stages.png")
    for entry in card["stages"]:
        if entry.get("score_histograms"):
            _plot_score_histograms(entry, plots / f"scores_{entry['stage']}.png")
    if card.get("dedup", {}).get("levels"):
        _plot_cluster_sizes(card, plots / "dedup_clusters.png")
    if card.get("mix"):
        _plot_mix(card, plots / "mix.png")
    # each file whole or not at all (``curate mix`` rewrites the card of a committed run)
    for name, text in (("card.json", json.dumps(card, indent=2, sort_keys=False) + "\n"), ("README.md", render_readme(card))):
        partial = out_dir / f".{name}.partial"
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, out_dir / name)
    return copy_card(out_dir, card["run_id"], cards_dir)


def copy_card(out_dir: Path, run_id: str, cards_dir: Path | None) -> Path:
    """Copy OUT's card (card.json, README.md, plots) to ``cards_dir/<run-id>/``; returns where it is."""
    if cards_dir is None:
        return out_dir
    target = cards_dir / run_id
    target.mkdir(parents=True, exist_ok=True)
    for name in ("card.json", "README.md"):
        shutil.copy2(out_dir / name, target / name)
    shutil.copytree(out_dir / "plots", target / "plots", dirs_exist_ok=True)
    return target
