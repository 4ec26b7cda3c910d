"""The mix on the unit engine, after the output shards are written (see curate/mix/ for the rules).

1. ``annotate`` — one unit per data shard: tokens, bucket, stratum and selection key of every
   document (a small part file, row-aligned with the shard) and the stratum's top-level token
   histogram, in the unit's record.
2. The driver sums the records' histograms and plans per-stratum thresholds (curate/mix/plan.py);
   a ``refine`` pass per level re-histograms the narrowed key windows from the annotation files.
   It holds per-stratum numbers only, never documents.
3. ``expand`` — one unit per data shard: each document's copies (shuffle key, mix shard) or its
   ``mix_not_selected`` ledger line, bucketed by mix shard.
4. ``write`` — one unit per mix shard: rows sorted by shuffle key into Parquet, token arrays, and
   the shard's ledger lines, into the staging folder; ``mix.json`` is built from these records.

Histograms and counts travel in records, never to an actor, so a retried unit counts once.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.run.parts import PartWriter, bucket_rows, bucket_slices, read_bucket, read_part
from curate.run.units import PassSpec, RunError, Unit, WorkerContext
from curate.schema import conform

ANNOTATION_COLUMNS = ["tokens", "mix_bucket"]
BLEND_PART = "blend_part"  # a blend's column: which part (source) a row came from


def blend_rows(table: pa.Table, inputs: dict, offset: int) -> pa.Table:
    """A blend unit's rows (``inputs`` has ``part``): the part's name as a column, an id for rows
    that have none (``<part>:<file>:<row>``, stable for the same files), and a clear error for a
    row with no text. Other units' rows pass unchanged."""
    part = inputs.get("part")
    if part is None:
        return table
    texts = table.column("text")
    if texts.null_count:
        raise RunError(f"blend part {part}: {inputs['label']}: {texts.null_count} row(s) have no text")
    ids = table.column("id")
    if ids.null_count:
        derived = pa.array([f"{part}:{inputs['label']}:{offset + i}" for i in range(table.num_rows)], pa.string())
        table = table.set_column(table.schema.get_field_index("id"), "id", pc.coalesce(ids, derived))
    index = table.schema.get_field_index(BLEND_PART)
    column = pa.array([part] * table.num_rows, pa.string())
    return table.set_column(index, BLEND_PART, column) if index >= 0 else table.append_column(BLEND_PART, column)


def _sparse_json(sparse: dict) -> dict:
    return {str(s): [list(map(int, bins)), list(map(int, tokens)), list(map(int, docs))] for s, (bins, tokens, docs) in sparse.items()}


def annotation_schema() -> pa.Schema:
    from curate.mix.select import KEY, STRATUM

    return pa.schema([("tokens", pa.int32()), ("mix_bucket", pa.string()), (STRATUM, pa.int32()), (KEY, pa.uint64())])


class AnnotatePass(PassSpec):
    unit_noun = "shards"

    def __init__(self, name, mix, tokenizer_path: str, seed: int, document_schema: pa.Schema, batch_size: int):
        self.name, self.title = name, "mix: tokens and buckets"
        self.mix, self.tokenizer_path, self.seed = mix, tokenizer_path, seed
        self.document_schema, self.batch_size = document_schema, batch_size

    def run_unit(self, ctx: WorkerContext, unit: Unit) -> dict:
        from curate.mix.plan import histogram, top_window
        from curate.mix.rules import NO_STRATUM, strata_of
        from curate.mix.select import KEY, STRATUM, Annotator

        annotator = ctx.cached(("mix-annotator", self.mix.model_dump_json(), self.tokenizer_path, self.seed),
                               lambda: Annotator(self.mix, self.tokenizer_path, self.seed))
        windows = {s.index: top_window().as_tuple() for s in strata_of(self.mix)}
        writer = PartWriter(ctx.store, f"{self.name}/parts/{unit.key}.annotations", annotation_schema())
        counts = {"documents": 0, "tokens": 0, "unbucketed_documents": 0, "unbucketed_tokens": 0}
        merged: dict[int, dict[int, list[int]]] = {}
        source = Path(ctx.final_dir) / unit.inputs["path"]
        offset = 0
        for batch in pq.ParquetFile(source).iter_batches(batch_size=self.batch_size):
            table = annotator.annotate(blend_rows(conform(pa.Table.from_batches([batch]), self.document_schema), unit.inputs, offset))
            offset += batch.num_rows
            writer.add(table.select(annotation_schema().names))
            strata = table.column(STRATUM).to_numpy()
            tokens = table.column("tokens").to_numpy()
            for s, (bins, tok, docs) in histogram(strata, table.column(KEY).to_numpy(), tokens, windows).items():
                cells = merged.setdefault(s, {})
                for b, t, d in zip(bins, tok, docs, strict=True):
                    cell = cells.setdefault(b, [0, 0])
                    cell[0] += t
                    cell[1] += d
            unbucketed = strata == NO_STRATUM
            counts["documents"] += table.num_rows
            counts["tokens"] += int(tokens.sum())
            counts["unbucketed_documents"] += int(unbucketed.sum())
            counts["unbucketed_tokens"] += int(tokens[unbucketed].sum())
            ctx.fault_point()
        histogram_json = {str(s): [sorted(cells), [cells[b][0] for b in sorted(cells)], [cells[b][1] for b in sorted(cells)]]
                          for s, cells in sorted(merged.items())}
        record = {"outputs": {"annotations": writer.close()}, "mix_counts": counts, "histogram": histogram_json}
        if "part" in unit.inputs:
            # a blend records what it read: the file's size and hash (a source outside OUT can change)
            from curate.hashing import sha256_file

            record["input"] = {"bytes": source.stat().st_size, "sha256": sha256_file(source)}
        return record


class RefinePass(PassSpec):
    unit_noun = "shards"

    def __init__(self, name, level: int, windows: dict):
        self.name, self.title = name, f"mix: thresholds (level {level})"
        self.level, self.windows = level, windows

    def run_unit(self, ctx: WorkerContext, unit: Unit) -> dict:
        from curate.mix.plan import histogram
        from curate.mix.select import KEY, STRATUM

        table = read_part(ctx.store, unit.inputs["annotations"])
        if table is None:
            return {"histogram": {}}
        sparse = histogram(table.column(STRATUM).to_numpy(), table.column(KEY).to_numpy(), table.column("tokens").to_numpy(), self.windows)
        return {"histogram": _sparse_json(sparse)}


class ExpandPass(PassSpec):
    unit_noun = "shards"

    def __init__(self, name, mix, selection: dict, num_shards: int, seed: int, document_schema: pa.Schema):
        self.name, self.title = name, "mix: select and copy"
        self.mix, self.selection, self.num_shards, self.seed, self.document_schema = mix, selection, num_shards, seed, document_schema

    def run_unit(self, ctx: WorkerContext, unit: Unit) -> dict:
        from curate.mix.select import SHARD, expand, expand_schema

        docs = blend_rows(conform(pq.read_table(Path(ctx.final_dir) / unit.inputs["path"]), self.document_schema), unit.inputs, 0)
        annotations = read_part(ctx.store, unit.inputs["annotations"])
        if annotations is None or annotations.num_rows != docs.num_rows:
            raise RunError(f"mix: annotations of {unit.inputs['path']} do not match its rows")
        annotated = docs.drop_columns([c for c in ANNOTATION_COLUMNS if c in docs.column_names])
        for field in annotation_schema():
            annotated = annotated.append_column(field.name, annotations.column(field.name))
        expanded = expand(annotated, self.mix, self.selection, self.num_shards, self.seed, self.document_schema)
        writer = PartWriter(ctx.store, f"{self.name}/parts/{unit.key}.rows", expand_schema(self.document_schema),
                            lambda t: t.column(SHARD).to_numpy().astype(np.int64))
        writer.add(expanded)
        ctx.fault_point()
        return {"outputs": {"rows": writer.close()}}


class MixWritePass(PassSpec):
    """Writes one mix shard (rows in shuffle-key order, optional token arrays) and its ledger lines."""

    unit_noun = "shards"
    weight_unit = "rows"

    def __init__(self, name, mix, tokenizer_path: str, document_schema: pa.Schema, num_shards: int, output: dict, prefix: str = "mix"):
        self.name, self.title = name, "mix: write shards"
        self.mix, self.tokenizer_path, self.document_schema = mix, tokenizer_path, document_schema
        self.num_shards, self.output = num_shards, output
        self.prefix = prefix  # the mix's folder under OUT: "mix", or "mix/<name>/<phase>" for `curate mix`

    def run_unit(self, ctx: WorkerContext, unit: Unit) -> dict:
        from curate.mix.select import LEDGER_REASON, ORDER, expand_schema, ledger_rows, mix_schema
        from curate.mix.tokens import TokenCounter
        from curate.mix.write import shard_name, shard_summary, write_megatron, write_npy, write_parquet

        shard = int(unit.key)
        name = shard_name(shard, self.num_shards)
        out = Path(ctx.final_dir)
        group = read_bucket(ctx.store, unit.inputs["rows"], shard, expand_schema(self.document_schema))
        is_ledger = pc.is_valid(group.column(LEDGER_REASON))
        rows, ledger = group.filter(pc.invert(is_ledger)), group.filter(is_ledger)
        result: dict = {"outputs": {}}
        if rows.num_rows:
            rows = rows.sort_by([(ORDER, "ascending"), ("id", "ascending"), ("mix_copy", "ascending")])
            table = conform(rows, mix_schema(self.document_schema))
            written = write_parquet(table, out / self.prefix / "data" / f"{name}.parquet", self.output)
            record = {"path": f"{self.prefix}/data/{name}.parquet", **written, **shard_summary(table)}
            result["outputs"]["data"] = {"path": record["path"], "final": True, "rows": table.num_rows, **written}
            if self.mix.tokenized != "none":
                counter = ctx.cached(("mix-tokens", self.tokenizer_path), lambda: TokenCounter(self.tokenizer_path))
                sequences = counter.encode(table.column("text").to_pylist())
                if [len(s) for s in sequences] != table.column("tokens").to_pylist():
                    raise RunError(f"mix shard {name}: re-tokenised lengths differ from the token counts")
                prefix = out / self.prefix / "tokens" / name
                if self.mix.tokenized == "megatron":
                    files = write_megatron(prefix, sequences, counter.vocab_size)
                else:
                    files = write_npy(prefix.with_name(name + ".npy"), sequences)
                arrays = {"format": self.mix.tokenized, "prefix": f"{self.prefix}/tokens/{name}"}
                for kind, f in files.items():
                    path = Path(f["path"]).relative_to(out).as_posix()
                    arrays[kind] = {"path": path, "bytes": f["bytes"], "sha256": f["sha256"]}
                    result["outputs"][f"tokens_{kind}"] = {"path": path, "final": True, "bytes": f["bytes"], "sha256": f["sha256"]}
                record["arrays"] = arrays
            result["shard"] = record
        if ledger.num_rows:
            lines = ledger_rows(ledger).sort_by([("id", "ascending")])
            written = write_parquet(lines, out / self.prefix / "not_selected" / f"{name}.parquet", self.output)
            result["not_selected"] = {"path": f"{self.prefix}/not_selected/{name}.parquet", "rows": lines.num_rows, **written}
            result["outputs"]["not_selected"] = {"path": result["not_selected"]["path"], "final": True, "rows": lines.num_rows, **written}
        ctx.fault_point()
        return result


def run_mix(engine, index: int, config, data_shards: list[dict], documents_in: int, document_schema: pa.Schema, run_id: str,
            prefix: str = "mix", pass_name: str | None = None) -> dict:
    """The mix passes; returns mix.json's content (also written to the staging folder's
    ``<prefix>/mix.json``). ``prefix`` is the mix's folder under OUT ("mix" for a run's own mix);
    a data shard's ``path`` is relative to the staging folder or absolute (``curate mix`` reads
    a finished run's committed shards)."""
    import json

    from curate.mix.manifest import build_manifest
    from curate.mix.plan import plan_targets, refine
    from curate.mix.rules import strata_of
    from curate.mix.tokens import TokenCounter, tokenizer_sha256

    mix, seed, tokenizer_path = config.mix, config.mix_seed, config.mix_tokenizer_path
    name = pass_name or f"{index:02d}-mix"
    # a zero-row shard (a run that kept nothing writes one) has nothing to annotate or copy
    shards = sorted((s for s in data_shards if s["rows"]), key=lambda r: r.get("label") or r["path"])  # a blend: by part and file, not by where OUT is
    # a blend's shard also names its part and a stable label (see blend_rows)
    units = [Unit(f"{i:05d}", s.get("label") or Path(s["path"]).name,
                  {"path": s["path"], **({"part": s["part"], "label": s["label"]} if "part" in s else {})}, s["rows"])
             for i, s in enumerate(shards)]
    annotated = engine.run(AnnotatePass(f"{name}/annotate", mix, tokenizer_path, seed, document_schema, config.ray.batch_size * 4), units)
    totals: dict[str, int] = {}
    for record in annotated.values():
        for key, value in record["mix_counts"].items():
            totals[key] = totals.get(key, 0) + int(value)

    def dense(records: dict[str, dict], plan) -> dict:
        out = {}
        for record in records.values():
            for s, (bins, tokens, docs) in record["histogram"].items():
                p = plan.strata[int(s)]
                if p.done:
                    continue
                dense_tokens, dense_docs = out.setdefault(int(s), (np.zeros(p.window.bins, np.int64), np.zeros(p.window.bins, np.int64)))
                np.add.at(dense_tokens, np.asarray(bins, np.int64), np.asarray(tokens, np.int64))
                np.add.at(dense_docs, np.asarray(bins, np.int64), np.asarray(docs, np.int64))
        return out

    supply: dict[int, tuple[int, int]] = {}
    for record in annotated.values():
        for s, (_, tokens, docs) in record["histogram"].items():
            t, d = supply.get(int(s), (0, 0))
            supply[int(s)] = (t + sum(tokens), d + sum(docs))
    plan = plan_targets(mix, supply, (totals.get("unbucketed_tokens", 0), totals.get("unbucketed_documents", 0)))
    refine(plan, dense(annotated, plan))
    level = 0
    annotation_units = [Unit(u.key, u.label, {"annotations": annotated[u.key]["outputs"]["annotations"]}, u.weight) for u in units]
    while not plan.done:
        level += 1
        if level > 8:  # 64-bit keys, 12 bits a level: cannot happen
            raise RunError("mix: threshold search did not converge")
        refined = engine.run(RefinePass(f"{name}/refine-{level}", level, plan.windows()), annotation_units)
        refine(plan, dense(refined, plan))
    num_shards = max(1, math.ceil(plan.selected_tokens / mix.shard_tokens))
    expand_units = [Unit(u.key, u.label, {**u.inputs, "annotations": annotated[u.key]["outputs"]["annotations"]}, u.weight)
                    for u in units]
    expanded = engine.run(ExpandPass(f"{name}/expand", mix, plan.selection(), num_shards, seed, document_schema), expand_units)
    row_files = [r["outputs"]["rows"] for _, r in sorted(expanded.items())]
    write_units = [Unit(f"{m:05d}", f"mix shard {m}", {"rows": bucket_slices(row_files, m)}, bucket_rows(row_files, m))
                   for m in range(num_shards)]
    written = engine.run(MixWritePass(f"{name}/write", mix, tokenizer_path, document_schema, num_shards, config.output.model_dump(), prefix),
                         write_units)
    shard_records = [r["shard"] for _, r in sorted(written.items()) if r.get("shard")]
    ledger_files = [r["not_selected"] for _, r in sorted(written.items()) if r.get("not_selected")]
    counter = TokenCounter(tokenizer_path)
    manifest = build_manifest(
        run_id=run_id, seed=seed, config=mix.model_dump(mode="json", by_alias=True),
        tokenizer={"reference": mix.tokenizer, "path": tokenizer_path, "sha256": tokenizer_sha256(tokenizer_path), "vocab_size": counter.vocab_size},
        plan=plan, documents_in=documents_in, shards=shard_records, not_selected=ledger_files,
        annotated_documents=int(totals.get("documents", 0)), tokens_in=int(totals.get("tokens", 0)),
    )
    manifest["strata"] = len(strata_of(mix))
    manifest["threshold_passes"] = level + 1
    path = Path(engine.final_dir) / prefix / "mix.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Sorted keys: a resumed run rebuilds this from records read back from JSON, and must write the same bytes.
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest
