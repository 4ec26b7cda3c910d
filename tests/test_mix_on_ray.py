"""The mixer on embedded Ray: exact shares, shards datasets can load, the ledger, audit, determinism."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from curate.audit import audit
from curate.config import parse_pipeline
from curate.mix.tokens import TokenCounter
from curate.mix.write import read_megatron
from curate.run import run_pipeline
from curate.run.pipeline import mix_only as run_mix
from curate.sample import generate_sample_corpus
from tests.conftest import REPO

pytestmark = pytest.mark.slow

# Buckets from columns that exist before the classifier stages: language, and code / math found
# by pattern in the text; news sites capped inside general.
MIX = {
    "budget": "scarcest",
    "max_epochs": 4,
    "shard_tokens": 50_000,
    "tokenized": "megatron",
    "buckets": [
        {"name": "multilingual", "weight": 0.08, "where": {"lang": {"ne": "en"}}},
        {"name": "code", "weight": 0.17, "where": {"text": {"matches": r"(?m)^\s*(def |class |import |#include|function |public |return )"}}},
        {"name": "math_reasoning", "weight": 0.25, "where": {"text": {"matches": r"\\(frac|sum|int|sqrt|begin)|[≤≥∑∫]"}}},
        {"name": "general", "weight": 0.50, "caps": [{"name": "news_sites", "where": {"url": {"matches": r"\.news/"}}, "max_share": 0.10}]},
    ],
}


def _config(mix: dict = MIX, **ray):
    data = yaml.safe_load((REPO / "pipelines" / "llama3.yaml").read_text())
    data["output"]["shard_input_mib"] = 0.25
    data["ray"].update(ray)
    data["mix"] = mix
    return parse_pipeline(data, origin="tests/mix.yaml")


@pytest.fixture(scope="module")
def mixed(ray_session, tmp_path_factory):
    corpus = tmp_path_factory.mktemp("mix_corpus")
    generate_sample_corpus(corpus, seed=7, pages=300, pages_per_warc=100)
    out = tmp_path_factory.mktemp("mix_run")
    result = run_pipeline(_config(), str(corpus / "warc"), out, cards_dir=None, run_id="mix-run")
    return result


def _manifest(out: Path) -> dict:
    return json.loads((out / "mix" / "mix.json").read_text())


def _remix(result, tmp_path: Path, mix: dict = MIX, **ray) -> dict:
    """The mix step alone over a copy of the run's curated corpus."""
    out = tmp_path / "remix"
    shutil.copytree(result.out_dir / "data", out / "data")
    config = _config(mix, **ray)
    paths = [e["path"] for e in result.card["output"]["data"]]
    schema = pq.read_schema(out / paths[0])
    return run_mix(config, out, paths, result.card["ledger"]["kept"], schema, "remix"), out


def test_achieved_shares_are_within_half_a_point_of_target(mixed):
    mix = mixed.card["mix"]
    assert mix["totals"]["shards"] >= 2 and mix["totals"]["repeats"] > 0
    for b in mix["buckets"]:
        assert b["attainable"] and b["supply_tokens"] > 0, b
        assert abs(b["achieved_share"] - b["target_share"]) <= 0.005, b
        assert b["within_tolerance"]
        assert b["tokens"] <= b["max_epochs"] * b["supply_tokens"]
    # The cap binds: news sites are far more than 10% of general's supply, and get 10% of it.
    general = next(b for b in mix["buckets"] if b["name"] == "general")
    news = next(s for s in general["strata"] if s["cap"] == "news_sites")
    assert news["natural_share_of_bucket"] > 0.15 and abs(news["share_of_bucket"] - 0.10) < 0.01
    assert any("news_sites: capped at 10.0% of general" in note for note in mix["notes"])


def test_mix_shards_load_in_datasets_and_are_shuffled(mixed, tmp_path):
    datasets = pytest.importorskip("datasets")
    manifest = _manifest(mixed.out_dir)
    files = sorted(str(p) for p in (mixed.out_dir / "mix" / "data").glob("*.parquet"))
    assert len(files) == len(manifest["shards"])
    ds = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "hf"))
    assert len(ds) == manifest["totals"]["rows"]
    assert {"id", "text", "tokens", "mix_bucket", "mix_copy", "lang"} <= set(ds.column_names)
    assert sum(ds["tokens"]) == manifest["totals"]["tokens"]
    assert pq.ParquetFile(files[0]).metadata.row_group(0).column(0).compression == "ZSTD"
    # Shuffled: buckets interleave inside a shard, and repeats of one document are spread out.
    buckets = pq.read_table(files[0], columns=["mix_bucket"]).column(0).to_pylist()
    changes = sum(a != b for a, b in zip(buckets, buckets[1:], strict=False))
    assert changes > len(buckets) / 3
    # Shard sizes near the target (hash-assigned, so within a few documents' tokens).
    for s in manifest["shards"]:
        assert 0.5 * manifest["totals"]["tokens"] / len(files) < s["tokens"] < 1.5 * manifest["totals"]["tokens"] / len(files)


def test_every_kept_document_is_mixed_or_a_ledger_line(mixed):
    out = mixed.out_dir
    assert mixed.card["ledger"]["balanced"] and mixed.card["mix"]["ledger"]["balanced"]
    kept = set(pa.concat_tables([pq.read_table(p, columns=["id"]) for p in (out / "data").glob("*.parquet")]).column("id").to_pylist())
    rows = pa.concat_tables([pq.read_table(p, columns=["id", "mix_copy"]) for p in (out / "mix" / "data").glob("*.parquet")])
    firsts = [i for i, c in zip(rows.column("id").to_pylist(), rows.column("mix_copy").to_pylist(), strict=True) if c == 0]
    lines = pa.concat_tables([pq.read_table(p) for p in (out / "mix" / "not_selected").glob("*.parquet")])
    assert set(lines.column("reason").to_pylist()) == {"mix_not_selected"} and set(lines.column("stage").to_pylist()) == {"mix"}
    assert "text" not in lines.column_names
    left = lines.column("id").to_pylist()
    assert len(firsts) == len(set(firsts)) and not set(firsts) & set(left)
    assert set(firsts) | set(left) == kept and len(firsts) + len(left) == len(kept)
    ledger = mixed.card["mix"]["ledger"]
    assert ledger["documents_mixed"] == len(firsts) and ledger["mix_not_selected"] == len(left)
    assert ledger["repeats"] == rows.num_rows - len(firsts) > 0


def test_megatron_arrays_hold_each_rows_tokens(mixed):
    manifest = _manifest(mixed.out_dir)
    counter = TokenCounter(mixed.card["mix"]["tokenizer"]["path"])
    shard = manifest["shards"][0]
    table = pq.read_table(mixed.out_dir / shard["path"], columns=["text", "tokens"])
    lengths, tokens = read_megatron(mixed.out_dir / shard["arrays"]["prefix"])
    assert lengths.tolist() == table.column("tokens").to_pylist()
    first = counter.encode(table.column("text").to_pylist()[:1])[0]
    assert tokens[: lengths[0]].tolist() == first.tolist()
    # The blend list: Megatron's --data-path form, weights = shard token shares.
    blend = manifest["blend"]
    assert blend[1::2] == [s["arrays"]["prefix"] for s in manifest["shards"]]
    assert abs(sum(blend[0::2]) - 1) < 1e-6


def test_card_has_the_mix_table_plot_and_audit_verifies_the_mix(mixed, tmp_path):
    readme = (mixed.out_dir / "README.md").read_text()
    assert "## Mix" in readme and "| multilingual | 8.0% |" in readme and (mixed.out_dir / "plots" / "mix.png").is_file()
    header = yaml.safe_load(readme.split("---", 2)[1])
    assert {"config_name": "mix", "data_files": [{"split": "train", "path": "mix/data/*.parquet"}]} in header["configs"]
    report = audit(mixed.out_dir)
    assert report.ok, report.mismatches
    # Tampering: a mix shard with one row fewer (rewritten validly), and a ledger file removed.
    copy = tmp_path / "tampered"
    shutil.copytree(mixed.out_dir, copy)
    card = json.loads((copy / "card.json").read_text())
    card["output"]["root"] = str(copy)
    (copy / "card.json").write_text(json.dumps(card))
    shard = copy / _manifest(copy)["shards"][1]["path"]
    table = pq.read_table(shard)
    pq.write_table(table.slice(1), shard, compression="zstd")
    report = audit(copy)
    assert not report.ok and any(_manifest(copy)["shards"][1]["path"] in m and "sha256" in m for m in report.mismatches)
    shutil.copy2(mixed.out_dir / _manifest(copy)["shards"][1]["path"], shard)
    assert audit(copy).ok
    next((copy / "mix" / "not_selected").glob("*.parquet")).unlink()
    report = audit(copy)
    assert not report.ok and any("mix_not_selected" in m or "missing" in m for m in report.mismatches)


def test_the_mix_is_byte_identical_across_runs_and_batchings(mixed, tmp_path):
    again, _ = _remix(mixed, tmp_path, batch_size=17)  # other batch boundaries, other block layout
    first = _manifest(mixed.out_dir)
    digest = lambda m: [(s["path"], s["sha256"], s["arrays"]["bin"]["sha256"], s["arrays"]["idx"]["sha256"]) for s in m["shards"]]
    assert digest(again) == digest(first)
    assert [(s["path"], s["sha256"]) for s in again["not_selected"]] == [(s["path"], s["sha256"]) for s in first["not_selected"]]
    other_seed, _ = _remix(mixed, tmp_path / "seed", {**MIX, "seed": 99})
    assert digest(other_seed) != digest(first)


def test_an_unattainable_target_is_reported_with_what_was_achieved(mixed, tmp_path):
    kept_tokens = mixed.card["mix"]["totals"]["tokens_in"]
    manifest, out = _remix(mixed, tmp_path, {**MIX, "budget": 3 * kept_tokens, "max_epochs": 2, "tokenized": "npy"})
    short = [b for b in manifest["buckets"] if not b["attainable"]]
    assert short, manifest["buckets"]
    for b in short:
        if len(b["strata"]) == 1:
            assert b["tokens"] == 2 * b["supply_tokens"]  # all it has, at max_epochs
        else:  # a capped group cannot pass its share: the bucket's capacity is less than 2 x supply
            assert b["tokens"] < 2 * b["supply_tokens"] and abs(b["tokens"] - b["capacity_tokens"]) < 4000
        assert b["note"].startswith(f"{b['name']}: target {b['target_share']:.1%}, achieved {b['achieved_share']:.1%} — supply ")
        assert "max_epochs 2" in b["note"] and b["note"] in manifest["notes"]
    assert manifest["ledger"]["balanced"]
    # npy arrays: flat uint32 tokens and row offsets per shard.
    shard = manifest["shards"][0]
    flat = np.load(out / shard["arrays"]["npy"]["path"])
    offsets = np.load(out / shard["arrays"]["offsets"]["path"])
    assert flat.dtype == np.uint32 and int(offsets[-1]) == flat.size == shard["tokens"]


# ----- curate mix: named phases of a finished run (issue 16) -----

PHASES = {
    "phases": {
        # the main phase: the run's own rules with a token budget
        "main": {**MIX, "budget": 60_000, "tokenized": "none"},
        # an annealing-style phase: more code and math, a small budget, token arrays for a trainer
        "anneal": {**MIX, "budget": 20_000, "tokenized": "npy", "buckets": [
            {"name": "code", "weight": 0.35, "where": MIX["buckets"][1]["where"]},
            {"name": "math_reasoning", "weight": 0.35, "where": MIX["buckets"][2]["where"]},
            {"name": "general", "weight": 0.30},
        ]},
    },
}


def _assert_same_bytes(a: Path, b: Path) -> None:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def _copy_run(result, where: Path) -> Path:
    shutil.copytree(result.out_dir, where)
    return where


def test_curate_mix_writes_phases_the_card_lists_and_audit_verifies(mixed, tmp_path):
    from curate.cli import main

    out = _copy_run(mixed, tmp_path / "run")
    config = tmp_path / "phases.yaml"
    config.write_text(yaml.safe_dump(PHASES))
    assert main(["mix", str(out), "--config", str(config), "--name", "schedule"]) == 0
    card = json.loads((out / "card.json").read_text())
    summary = card["mixes"]["schedule"]
    assert sorted(summary["phases"]) == ["anneal", "main"]
    for phase, budget in (("main", 60_000), ("anneal", 20_000)):
        m = summary["phases"][phase]
        assert m["ledger"]["balanced"] and m["totals"]["documents_in"] == card["ledger"]["kept"]
        assert abs(m["totals"]["tokens"] - budget) <= 0.05 * budget, m["totals"]
        for b in m["buckets"]:
            # 181 documents: a bucket's target is a handful of them, so it is met to within two of
            # its average documents (the run's own mix, in whole epochs, meets shares to 0.5 points)
            assert abs(b["tokens"] - b["target_tokens"]) <= 2 * b["supply_tokens"] / b["supply_documents"], (phase, b)
        assert (out / "mix" / "schedule" / phase / "mix.json").is_file()
    assert list((out / "mix" / "schedule" / "anneal" / "tokens").glob("*.npy"))
    assert "## Mix `schedule`" in (out / "README.md").read_text() and "### Phase `anneal`" in (out / "README.md").read_text()
    # the run itself is untouched, and the whole OUT verifies
    assert card["ledger"] == mixed.card["ledger"] and card["mix"] == mixed.card["mix"]
    assert audit(out).ok, audit(out).mismatches
    # a tampered phase shard, or a stray folder under mix/, fails the audit
    shard = sorted((out / "mix" / "schedule" / "main" / "data").glob("*.parquet"))[0]
    saved = shard.read_bytes()
    shard.write_bytes(saved[:-10] + b"0123456789")
    assert not audit(out).ok
    shard.write_bytes(saved)
    (out / "mix" / "stray").mkdir()
    assert any("mix/stray" in m for m in audit(out).mismatches)
    (out / "mix" / "stray").rmdir()
    assert audit(out).ok
    # the name is taken: refused without --force; the mix's files are curate's, not the user's
    assert main(["mix", str(out), "--config", str(config), "--name", "schedule"]) == 2
    from curate.run.out import foreign_entries

    assert foreign_entries(out) == []
    assert main(["mix", str(out), "--config", str(config), "--name", "schedule", "--force"]) == 0
    assert foreign_entries(out) == [] and audit(out).ok


def test_curate_mix_is_byte_identical_and_checks_its_config(mixed, tmp_path):
    from curate.run.remix import RemixError, remix

    config = tmp_path / "phases.yaml"
    config.write_text(yaml.safe_dump(PHASES))
    a, b = _copy_run(mixed, tmp_path / "a"), _copy_run(mixed, tmp_path / "b")
    remix(a, config, "s")
    remix(b, config, "s")
    _assert_same_bytes(a / "mix" / "s", b / "mix" / "s")
    # a rule reading a column the run never wrote names the phase and the column
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"phases": {"p": {**MIX, "buckets": [{"name": "all", "weight": 1.0, "where": {"no_such_column": {"gt": 1}}}]}}}))
    with pytest.raises(RemixError, match=r"phases\.p.*no_such_column"):
        remix(a, bad, "t")
    bad.write_text(yaml.safe_dump({"phase": {}}))
    with pytest.raises(RemixError, match="phases"):
        remix(a, bad, "t")
    assert not (a / "mix" / "t").exists() and "t" not in json.loads((a / "card.json").read_text()).get("mixes", {})


def _new_data(where: Path, result) -> Path:
    """A "new data set" for an annealing blend: Parquet files with a text column only (no id)."""
    texts = pq.read_table(result.out_dir / result.card["output"]["data"][2]["path"], columns=["text"])
    (where / "sub").mkdir(parents=True)
    pq.write_table(texts.slice(0, 20), where / "a.parquet")
    pq.write_table(texts.slice(20), where / "sub" / "b.parquet")
    return where


def test_an_annealing_blend_takes_its_shares_from_a_phase_and_a_data_set_path(mixed, tmp_path):
    from curate.cli import main

    out = _copy_run(mixed, tmp_path / "run")
    new = _new_data(tmp_path / "new", mixed)
    config = tmp_path / "anneal.yaml"
    config.write_text(yaml.safe_dump({"phases": {"main": PHASES["phases"]["main"]}, "blends": {"anneal_new": {
        "tokenized": "npy", "parts": [{"name": "default_mix", "phase": "main", "share": 0.7},
                                      {"name": "new_data", "path": str(new), "share": 0.3}]}}}))
    assert main(["mix", str(out), "--config", str(config), "--name", "trial"]) == 0
    card = json.loads((out / "card.json").read_text())
    blend = card["mixes"]["trial"]["blends"]["anneal_new"]
    main_rows = card["mixes"]["trial"]["phases"]["main"]["totals"]["rows"]
    assert [(p["name"], p["source"]["kind"], p["rows"]) for p in blend["parts"]] == [
        ("default_mix", "phase", main_rows), ("new_data", "path", pq.read_metadata(new / "a.parquet").num_rows + pq.read_metadata(new / "sub" / "b.parquet").num_rows)]
    assert blend["ledger"]["balanced"] and blend["totals"]["documents_in"] == sum(p["rows"] for p in blend["parts"])
    for b in blend["buckets"]:
        assert abs(b["achieved_share"] - b["target_share"]) <= 0.01, b
        assert b["epochs"] <= 1.0  # an annealing blend repeats nothing by default
    rows = pa.concat_tables(pq.read_table(f) for f in sorted((out / "mix" / "trial" / "anneal_new" / "data").glob("*.parquet")))
    parts = rows.column("blend_part").to_pylist()
    assert set(parts) == {"default_mix", "new_data"} and rows.column("id").null_count == 0
    # rows of the data set (no id column) get stable ids from their part, file and row
    assert all(i.startswith(("new_data:new_data/a.parquet:", "new_data:new_data/sub/b.parquet:"))
               for i, p in zip(rows.column("id").to_pylist(), parts, strict=True) if p == "new_data")
    manifest = json.loads((out / blend["manifest"]["path"]).read_text())
    assert {f["path"] for f in manifest["parts"][1]["files"]} == {str(new / "a.parquet"), str(new / "sub" / "b.parquet")}
    assert "### Blend `anneal_new`" in (out / "README.md").read_text()
    assert audit(out).ok, audit(out).mismatches
    # a data set changed after the blend read it is found by the audit
    pq.write_table(pq.read_table(new / "a.parquet").slice(1), new / "a.parquet")
    assert any("new_data" in m and "a.parquet" in m for m in audit(out).mismatches)


def test_blends_of_the_run_s_own_mix_and_another_run_are_byte_identical_and_checked(mixed, tmp_path):
    from curate.run.remix import RemixError, remix

    config = tmp_path / "blend.yaml"
    other = str(mixed.out_dir)  # "another run": a finished run's OUT, read through its card
    config.write_text(yaml.safe_dump({"blends": {"b": {"budget": 30_000, "parts": [
        {"name": "own_mix", "mix": "run", "share": 0.6}, {"name": "other_run", "run": other, "share": 0.4}]}}}))
    a, b = _copy_run(mixed, tmp_path / "a"), _copy_run(mixed, tmp_path / "b")
    remix(a, config, "s")
    remix(b, config, "s")
    _assert_same_bytes(a / "mix" / "s", b / "mix" / "s")
    summary = json.loads((a / "card.json").read_text())["mixes"]["s"]["blends"]["b"]
    assert [p["source"]["kind"] for p in summary["parts"]] == ["mix", "run"] and summary["parts"][1]["source"]["run_id"] == "mix-run"
    assert abs(summary["totals"]["tokens"] - 30_000) <= 0.05 * 30_000
    assert audit(a).ok, audit(a).mismatches
    # a later mix reads this one's phase by name; configs that cannot work are refused before any work
    bad = tmp_path / "bad.yaml"
    for body, message in [
        ({"blends": {"x": {"parts": [{"name": "p", "share": 1.0, "phase": "nope"}]}}}, r"phase 'nope' is not a phase"),
        ({"blends": {"x": {"parts": [{"name": "p", "share": 1.0, "mix": "run", "path": "/tmp"}]}}}, "exactly one source"),
        ({"blends": {"x": {"parts": [{"name": "p", "share": 0.5, "mix": "run"}]}}}, "shares sum to 0.5"),
        ({"blends": {"x": {"parts": [{"name": "p", "share": 1.0, "mix": "nosuch/main"}]}}}, "no such mix phase"),
        ({"blends": {"x": {"parts": [{"name": "p", "share": 1.0, "run": str(tmp_path)}]}}}, "not a finished curate run"),
        ({"blends": {"x": {"parts": [{"name": "p", "share": 1.0, "path": str(a / "rejects")}]}}}, "no `text` column"),
        ({}, "phases or blends"),
    ]:
        bad.write_text(yaml.safe_dump(body))
        with pytest.raises(RemixError, match=message):
            remix(a, bad, "t")
    assert not (a / "mix" / "t").exists()
