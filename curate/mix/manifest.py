"""``OUT/mix/mix.json``: what the mix holds and how close it came to its target, and its audit.

Paths are relative to OUT (like the card's). The blend list is Megatron-LM's ``--data-path``
form, ``[weight, prefix, weight, prefix, ...]`` with weight = the shard's share of the mix's
tokens (NeMo's ``data_prefix`` takes the same list): the shards are already mixed and shuffled,
so a trainer samples them in proportion to their tokens. Without token arrays the prefixes are
the Parquet files.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.mix.plan import MixPlan
from curate.mix.write import read_megatron, sha256_file

FORMAT = "curate-mix/1"
TOLERANCE_PP = 0.5


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def _human(tokens: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(tokens) >= limit:
            return f"{tokens / limit:.1f}{suffix}"
    return f"{tokens:.0f}"


def build_manifest(*, run_id: str, seed: int, config: dict, tokenizer: dict, plan: MixPlan, documents_in: int,
                   shards: list[dict], not_selected: list[dict], annotated_documents: int, tokens_in: int) -> dict:
    shards = sorted(shards, key=lambda r: r["path"])
    not_selected = sorted(not_selected, key=lambda r: r["path"])
    tokens = sum(s["tokens"] for s in shards)
    by_bucket: dict[str, dict[str, int]] = {}
    for s in shards:
        for name, v in s["by_bucket"].items():
            agg = by_bucket.setdefault(name, {"tokens": 0, "rows": 0, "documents": 0})
            for key in agg:
                agg[key] += v[key]
    buckets, notes = [], list(plan.notes)
    for b in plan.buckets:
        got = by_bucket.get(b.name, {"tokens": 0, "rows": 0, "documents": 0})
        achieved = _share(got["tokens"], tokens)
        deviation = (achieved - b.weight) * 100
        entry = {
            "name": b.name,
            "target_share": b.weight,
            "achieved_share": round(achieved, 6),
            "deviation_pp": round(deviation, 3),
            "within_tolerance": abs(deviation) <= TOLERANCE_PP,
            "attainable": b.attainable,
            "supply_tokens": b.supply_tokens,
            "supply_documents": b.supply_documents,
            "target_tokens": round(b.target_tokens, 1),
            "capacity_tokens": round(b.capacity_tokens, 1),
            "tokens": got["tokens"],
            "rows": got["rows"],
            "documents": got["documents"],
            "max_epochs": b.max_epochs,
            "epochs": round(_share(got["tokens"], b.supply_tokens), 4),
            "strata": [{
                "label": s.stratum.label, "cap": s.stratum.cap_name, "max_share": s.stratum.max_share,
                "supply_tokens": s.supply_tokens, "supply_documents": s.supply_documents,
                "target_tokens": round(s.target_tokens, 1), "tokens": s.selected_tokens, "rows": s.selected_rows,
                "base_copies": s.base_copies, "share_of_bucket": round(_share(s.selected_tokens, got["tokens"]), 6),
                "natural_share_of_bucket": round(_share(s.supply_tokens, b.supply_tokens), 6),
            } for s in b.strata],
        }
        entry["repeats"] = got["rows"] - got["documents"]
        if not b.attainable:
            entry["note"] = (f"{b.name}: target {b.weight:.1%}, achieved {achieved:.1%} — supply {_human(b.supply_tokens)} tokens, "
                             f"max_epochs {b.max_epochs} (capacity {_human(b.capacity_tokens)} of {_human(b.target_tokens)} wanted)")
            notes.append(entry["note"])
        elif not entry["within_tolerance"]:
            entry["note"] = f"{b.name}: target {b.weight:.1%}, achieved {achieved:.1%} (another bucket's shortfall moved the shares)"
            notes.append(entry["note"])
        for s in entry["strata"]:
            if s["cap"] is not None and s["natural_share_of_bucket"] > (s["max_share"] or 1) + 1e-9:
                notes.append(f"{s['label']}: capped at {s['max_share']:.1%} of {b.name} (its supply is {s['natural_share_of_bucket']:.1%} of the bucket)")
        buckets.append(entry)
    documents = sum(s["documents"] for s in shards)
    rows = sum(s["rows"] for s in shards)
    ledger_rows = sum(s["rows"] for s in not_selected)
    problems = []
    if documents + ledger_rows != documents_in:
        problems.append(f"kept {documents_in} != mixed {documents} + mix_not_selected {ledger_rows}")
    if annotated_documents != documents_in:
        problems.append(f"the mix read {annotated_documents} documents, the data shards hold {documents_in}")
    for b in plan.buckets:
        got = by_bucket.get(b.name, {"tokens": 0, "rows": 0})
        if got["tokens"] != b.selected_tokens or got["rows"] != sum(s.selected_rows for s in b.strata):
            problems.append(f"bucket {b.name}: planned {b.selected_tokens} tokens / {sum(s.selected_rows for s in b.strata)} rows, "
                            f"shards hold {got['tokens']} / {got['rows']}")
    ledger = {
        "documents_in": documents_in,
        "documents_mixed": documents,
        "mix_not_selected": ledger_rows,
        "rows": rows,
        "repeats": rows - documents,
        "equation": f"{documents_in} = {documents} + {ledger_rows}",
        "balanced": not problems,
        "explanation": "; ".join(problems) if problems else
        "kept documents = documents in the mix + mix_not_selected ledger lines; the shards hold the planned tokens per bucket",
    }
    blend = []
    for s in shards:
        prefix = s["arrays"]["prefix"] if s.get("arrays") else s["path"]
        blend += [round(_share(s["tokens"], tokens), 8), prefix]
    return {
        "format": FORMAT,
        "run_id": run_id,
        "seed": seed,
        "config": config,
        "tokenizer": tokenizer,
        "budget": {"mode": "scarcest" if plan.budget == "scarcest" else "tokens", "tokens_target": round(plan.total_tokens_target, 1)},
        "totals": {"documents_in": documents_in, "tokens_in": tokens_in, "documents": documents, "rows": rows,
                   "repeats": rows - documents, "tokens": tokens, "bytes": sum(s["bytes"] for s in shards), "shards": len(shards)},
        "buckets": buckets,
        "unbucketed": {"documents": plan.unbucketed_documents, "tokens": plan.unbucketed_tokens},
        # with no document there is no shortfall or cap to explain: one note says why the mix is empty
        "notes": notes if documents_in else ["nothing to mix: the run kept no document"],
        "ledger": ledger,
        "shards": shards,
        "not_selected": not_selected,
        "blend": blend,
    }


def card_summary(manifest: dict, manifest_sha256: str, prefix: str = "mix") -> dict:
    """What card.json carries: everything but the per-shard list, plus the manifest's hash."""
    body = {k: v for k, v in manifest.items() if k not in ("shards", "not_selected", "blend", "config", "run_id", "format")}
    return {"manifest": {"path": f"{prefix}/mix.json", "sha256": manifest_sha256}, **body}


def verify(base: Path, card_mix: dict, kept_documents: int, expect: Callable[[bool, str], bool]) -> None:
    """Re-derive the mix's numbers from its files (``curate audit``)."""
    path = base / card_mix["manifest"]["path"]
    if not expect(path.is_file(), f"{card_mix['manifest']['path']}: listed in the card but missing"):
        return
    prefix = card_mix["manifest"]["path"].rsplit("/", 1)[0]  # "mix", or "mix/<name>/<phase>"
    if not expect(sha256_file(path) == card_mix["manifest"]["sha256"], f"{card_mix['manifest']['path']}: sha256 differs from the card"):
        return
    manifest = json.loads(path.read_text(encoding="utf-8"))
    listed = {s["path"] for s in manifest["shards"]} | {s["path"] for s in manifest["not_selected"]}
    for s in manifest["shards"]:
        for kind, a in (s.get("arrays") or {}).items():
            if isinstance(a, dict):
                listed.add(a["path"])
    for folder in (f"{prefix}/data", f"{prefix}/not_selected", f"{prefix}/tokens"):
        if (base / folder).is_dir():
            for f in sorted((base / folder).iterdir()):
                if not f.name.startswith("."):
                    expect(f"{folder}/{f.name}" in listed, f"{folder}/{f.name}: file on disk is not listed in mix.json")
    by_bucket: dict[str, int] = {}
    documents = rows = 0
    for s in manifest["shards"]:
        f = base / s["path"]
        if not expect(f.is_file(), f"{s['path']}: listed in mix.json but missing"):
            continue
        expect(f.stat().st_size == s["bytes"], f"{s['path']}: size {f.stat().st_size} != mix.json {s['bytes']}")
        if not expect(sha256_file(f) == s["sha256"], f"{s['path']}: sha256 differs from mix.json"):
            continue
        table = pq.read_table(f, columns=["tokens", "mix_bucket", "mix_copy"])
        expect(table.num_rows == s["rows"], f"{s['path']}: {table.num_rows} rows != mix.json {s['rows']}")
        tokens = int(pc.sum(table.column("tokens")).as_py() or 0)
        expect(tokens == s["tokens"], f"{s['path']}: {tokens} tokens != mix.json {s['tokens']}")
        first = int(pc.sum(pc.equal(table.column("mix_copy"), 0).cast("int64")).as_py() or 0)
        expect(first == s["documents"], f"{s['path']}: {first} documents (first copies) != mix.json {s['documents']}")
        documents += first
        rows += table.num_rows
        grouped = table.group_by("mix_bucket").aggregate([("tokens", "sum")])
        for name, n in zip(grouped.column("mix_bucket").to_pylist(), grouped.column("tokens_sum").to_pylist(), strict=True):
            by_bucket[name] = by_bucket.get(name, 0) + int(n)
        arrays = s.get("arrays") or {}
        for kind, a in arrays.items():
            if not isinstance(a, dict):
                continue
            af = base / a["path"]
            if expect(af.is_file(), f"{a['path']}: listed in mix.json but missing"):
                expect(af.stat().st_size == a["bytes"] and sha256_file(af) == a["sha256"], f"{a['path']}: size or sha256 differs from mix.json")
        if arrays.get("format") == "megatron":
            try:
                lengths, toks = read_megatron(base / arrays["prefix"])
                expect(len(lengths) == s["rows"] and int(lengths.sum()) == s["tokens"],
                       f"{arrays['prefix']}: {len(lengths)} sequences / {int(lengths.sum())} tokens != shard {s['rows']} / {s['tokens']}")
                expect(lengths.tolist() == table.column("tokens").to_pylist(), f"{arrays['prefix']}: sequence lengths differ from the shard's tokens column")
            except (OSError, ValueError) as e:
                expect(False, f"{arrays['prefix']}: unreadable token arrays ({e})")
        elif arrays.get("format") == "npy":
            import numpy as np

            try:
                offsets = np.load(base / arrays["offsets"]["path"])
                flat = np.load(base / arrays["npy"]["path"], mmap_mode="r")
                expect(flat.dtype == np.uint32 and len(offsets) == s["rows"] + 1 and int(offsets[-1]) == s["tokens"] == flat.size,
                       f"{arrays['prefix']}: token array does not match the shard ({flat.size} tokens, {len(offsets) - 1} rows)")
                expect(np.diff(offsets).tolist() == table.column("tokens").to_pylist(), f"{arrays['prefix']}: row lengths differ from the shard's tokens column")
            except (OSError, ValueError) as e:
                expect(False, f"{arrays['prefix']}: unreadable token arrays ({e})")
    ledger_rows = 0
    for s in manifest["not_selected"]:
        f = base / s["path"]
        if not expect(f.is_file(), f"{s['path']}: listed in mix.json but missing"):
            continue
        expect(f.stat().st_size == s["bytes"] and sha256_file(f) == s["sha256"], f"{s['path']}: size or sha256 differs from mix.json")
        table = pq.read_table(f)
        expect(not ({"text", "html"} & set(table.column_names)), f"{s['path']}: ledger lines carry document text")
        reasons = set(table.column("reason").to_pylist())
        expect(reasons <= {"mix_not_selected"}, f"{s['path']}: reasons {sorted(reasons)} are not mix_not_selected")
        expect(table.num_rows == s["rows"], f"{s['path']}: {table.num_rows} rows != mix.json {s['rows']}")
        ledger_rows += table.num_rows
    ledger = manifest["ledger"]
    expect(documents + ledger_rows == kept_documents,
           f"mix ledger does not balance: kept {kept_documents} != mixed {documents} + mix_not_selected {ledger_rows}")
    expect((documents, ledger_rows, rows) == (ledger["documents_mixed"], ledger["mix_not_selected"], ledger["rows"]),
           "mix ledger in mix.json differs from the files")
    expect(ledger.get("balanced") is True, f"mix.json says the mix ledger is not balanced: {ledger.get('explanation')}")
    total = sum(by_bucket.values())
    for b in manifest["buckets"]:
        got = by_bucket.get(b["name"], 0)
        expect(got == b["tokens"], f"mix bucket {b['name']}: {got} tokens in the shards != mix.json {b['tokens']}")
        expect(abs(_share(got, total) - b["achieved_share"]) < 1e-5, f"mix bucket {b['name']}: achieved share differs from the shards")
    expect(card_mix.get("buckets") == manifest["buckets"], "the card's mix buckets differ from mix.json")
