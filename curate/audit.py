"""`curate audit`: re-derive a run's numbers from the files on disk and compare with its card.

Checks, in order: every listed shard exists with the recorded size, sha256 and row count; no
unlisted shard sits beside them; reject shards carry no text; reject counts by stage and reason
recounted from the reject rows equal the card's; the ledger balances; the per-stage chain is
consistent; every document id appears exactly once across data/ and rejects/, in the shard its
hash names, and the ids are the ones the readers emitted (count and xxh3 sum); the input fingerprint matches the listed files (and, with ``inputs=True``, the
input files themselves are re-hashed); and for a run with a mix, ``mix/mix.json`` against the
card, every mix shard's size, sha256, rows, tokens (the ``tokens`` column) and first copies,
the token arrays (files and lengths), the ``mix_not_selected`` ledger lines, and the mix ledger
``kept = mixed + mix_not_selected``.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from curate.card import input_fingerprint
from curate.hashing import IdDigest, sha256_file
from curate.schema import REJECT_SCHEMA


class AuditError(Exception):
    pass


@dataclass
class AuditReport:
    card_path: Path
    checks: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def expect(self, condition: bool, message: str) -> bool:
        self.checks += 1
        if not condition:
            self.mismatches.append(message)
        return condition


def load_card(card_dir: Path) -> tuple[dict, Path]:
    """The card and the directory holding its shards (the card dir itself, or output.root)."""
    card_file = card_dir / "card.json" if card_dir.is_dir() else card_dir
    if not card_file.is_file():
        raise AuditError(f"{card_dir}: no card.json found")
    try:
        card = json.loads(card_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise AuditError(f"{card_file}: not valid JSON: {e}") from None
    base = card_file.parent
    if not (base / "data").is_dir() and not (base / "rejects").is_dir():
        base = Path(card["output"]["root"])
    return card, base


def _check_shards(report: AuditReport, base: Path, kind: str, listed: list[dict]) -> None:
    listed_paths = {entry["path"] for entry in listed}
    on_disk = {f"{kind}/{p.name}" for p in (base / kind).glob("*.parquet")} if (base / kind).is_dir() else set()
    for extra in sorted(on_disk - listed_paths):
        report.expect(False, f"{extra}: shard on disk is not listed in the card")
    for entry in listed:
        path = base / entry["path"]
        if not report.expect(path.is_file(), f"{entry['path']}: listed in the card but missing on disk"):
            continue
        report.expect(path.stat().st_size == entry["bytes"], f"{entry['path']}: size {path.stat().st_size} != card {entry['bytes']}")
        report.expect(sha256_file(path) == entry["sha256"], f"{entry['path']}: sha256 differs from the card")
        try:
            rows = pq.ParquetFile(path).metadata.num_rows
        except Exception as e:  # a corrupted file is a finding, not a crash
            report.expect(False, f"{entry['path']}: unreadable Parquet ({type(e).__name__})")
            continue
        report.expect(rows == entry["rows"], f"{entry['path']}: {rows} rows != card {entry['rows']}")


def _recount_rejects(report: AuditReport, base: Path, listed: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for entry in listed:
        path = base / entry["path"]
        if not path.is_file():
            continue
        try:
            pf = pq.ParquetFile(path)
        except Exception:
            continue
        names = set(pf.schema_arrow.names)
        report.expect(not ({"text", "html"} & names), f"{entry['path']}: reject shard carries document text")
        report.expect(names == set(REJECT_SCHEMA.names), f"{entry['path']}: columns {sorted(names)} are not the reject schema")
        for batch in pf.iter_batches(columns=["stage", "reason"]):
            for stage, reason in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
                counts[f"{stage}/{reason}"] += 1
    return dict(counts)


_SHARD_NAME = re.compile(r"part-(\d+)-of-(\d+)\.parquet$")


def _check_ids(report: AuditReport, base: Path, output: dict) -> IdDigest:
    """Documents, not rows: every id in data/ and rejects/ sits in the shard its hash names and
    appears there once (data and rejects together) — an id can only land in its own shard, so no
    id appears twice anywhere — and the digest of them all is returned for the ledger's check."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import xxhash

    by_shard: dict[tuple[int, int], list[str]] = defaultdict(list)
    for entry in output["data"] + output["rejects"]:
        match = _SHARD_NAME.search(entry["path"])
        if match and (base / entry["path"]).is_file():
            by_shard[(int(match.group(1)), int(match.group(2)))].append(entry["path"])
    digest = IdDigest()
    for (shard, of), paths in sorted(by_shard.items()):
        try:
            ids = pa.concat_arrays([pq.read_table(base / p, columns=["id"]).column("id").combine_chunks() for p in paths])
        except Exception as e:  # an unreadable file was reported by the shard checks
            report.expect(False, f"shard {shard}: ids unreadable ({type(e).__name__})")
            continue
        distinct = pc.count_distinct(ids).as_py() if len(ids) else 0
        report.expect(distinct == len(ids), f"shard {shard}: {len(ids) - distinct} document id(s) appear more than once across data and rejects")
        values = ids.to_pylist()
        misplaced = sum(1 for i in values if xxhash.xxh64_intdigest(i.encode("utf-8")) % of != shard)
        report.expect(misplaced == 0, f"shard {shard}: {misplaced} id(s) belong to another shard")
        digest.add(values)
    return digest


def audit(card_dir: str | Path, *, inputs: bool = False) -> AuditReport:
    card, base = load_card(Path(card_dir))
    report = AuditReport(card_path=Path(card_dir))
    output, ledger = card["output"], card["ledger"]

    _check_shards(report, base, "data", output["data"])
    _check_shards(report, base, "rejects", output["rejects"])

    recount = _recount_rejects(report, base, output["rejects"])
    for key in sorted(set(recount) | set(ledger["rejected_by_stage_reason"])):
        report.expect(
            recount.get(key, 0) == ledger["rejected_by_stage_reason"].get(key, 0),
            f"rejects {key}: {recount.get(key, 0)} rows on disk != card {ledger['rejected_by_stage_reason'].get(key, 0)}",
        )
    kept_rows = sum(e["rows"] for e in output["data"])
    report.expect(kept_rows == ledger["kept"], f"ledger kept {ledger['kept']} != {kept_rows} rows in data shards")
    report.expect(sum(recount.values()) == ledger["rejected_total"], f"ledger rejected_total {ledger['rejected_total']} != {sum(recount.values())} reject rows")
    report.expect(
        ledger["input_documents"] == ledger["kept"] + ledger["rejected_total"],
        f"ledger does not balance: input {ledger['input_documents']} != kept {ledger['kept']} + rejected {ledger['rejected_total']}",
    )
    report.expect(ledger.get("balanced") is True, f"card says the ledger is not balanced: {ledger.get('explanation')}")

    # The per-stage chain: each stage's input is the previous stage's kept.
    previous_kept = None
    for stage in card["stages"]:
        if previous_kept is not None:
            report.expect(stage["documents_in"] == previous_kept, f"stage {stage['stage']}: in {stage['documents_in']} != previous kept {previous_kept}")
        report.expect(
            stage["documents_in"] == stage["kept"] + sum(stage["rejected_by_reason"].values()),
            f"stage {stage['stage']}: in != kept + rejected",
        )
        for reason, n in stage["rejected_by_reason"].items():
            report.expect(recount.get(f"{stage['stage']}/{reason}", 0) == n, f"stage {stage['stage']}: {reason} {n} != {recount.get(stage['stage'] + '/' + reason, 0)} on disk")
        previous_kept = stage["kept"]
    if previous_kept is not None:
        report.expect(previous_kept == kept_rows, f"last stage kept {previous_kept} != {kept_rows} rows in data shards")

    found = _check_ids(report, base, output)
    ids = ledger.get("ids")
    if ids is not None:
        read = IdDigest.from_json(ids["read"])
        report.expect(found == read, f"the shards hold {found.count} document ids (sum {found.total:016x}) but the readers emitted "
                                     f"{read.count} (sum {read.total:016x}): a document was lost, duplicated or invented")
        per_file = IdDigest()
        for f in card["input"]["files"]:
            if "ids" in f:
                per_file.merge(IdDigest.from_json(f["ids"]))
        report.expect(per_file == read, "the input files' id digests do not add up to the ledger's")

    files = card["input"]["files"]
    report.expect(input_fingerprint(files) == card["input"]["fingerprint_sha256"], "input fingerprint does not match the listed input files")
    report.expect(
        sum(f["documents"] + f["rejects"] for f in files) == ledger["input_documents"],
        "input files' document counts do not add up to the ledger's input",
    )
    if inputs:
        from curate.readers import InputFile, list_inputs, sha256_of

        try:
            listed = {f.source: f for f in list_inputs(card["input"]["corpus"])}
        except ValueError as e:
            listed = {}
            report.expect(False, f"inputs: {e}")
        for f in files:
            current: InputFile | None = listed.get(f["source"])
            if report.expect(current is not None, f"input {f['source']}: no longer found in {card['input']['corpus']}"):
                report.expect(sha256_of(current) == f["sha256"], f"input {f['source']}: sha256 differs from the card")
        for extra in sorted(set(listed) - {f["source"] for f in files}):
            report.expect(False, f"input {extra}: present in the corpus but not in the card")

    if card.get("mix"):
        from curate.mix.manifest import verify as verify_mix

        verify_mix(base, card["mix"], ledger["kept"], report.expect)
    if card.get("mixes"):
        from curate.run.remix import verify_mixes

        verify_mixes(base, card, report.expect)

    readme = base / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
        header = yaml.safe_load(text.split("---", 2)[1]) if text.startswith("---") else {}
        report.expect(
            (header or {}).get("curate", {}).get("run_id") == card["run_id"],
            "README.md's YAML header names another run than card.json",
        )
    return report
