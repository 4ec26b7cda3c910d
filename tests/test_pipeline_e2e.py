"""The whole pipeline on embedded Ray: sample corpus, real WARCs, JSONL; card, ledger, audit."""
from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from curate.audit import audit
from curate.config import load_pipeline, parse_pipeline
from curate.run import run_pipeline
from curate.sample import generate_sample_corpus, read_ground_truth
from tests.conftest import REPO, shared_path

pytestmark = pytest.mark.slow

SMALL_SHARDS = {"shard_input_mib": 0.25}


def _config(until: str | None = None, **output):
    """The shipped pipeline; ``until`` cuts it after that stage (and drops the mix, whose rules read
    the classifiers' columns)."""
    data = yaml.safe_load((REPO / "pipelines" / "llama3.yaml").read_text())
    data["output"].update(output)
    if until is not None:
        names = [s["stage"] for s in data["stages"]]
        data["stages"] = data["stages"][: names.index(until) + 1]
        data.pop("mix", None)
    return parse_pipeline(data, origin="pipelines/llama3.yaml")


@pytest.fixture(scope="module")
def sample_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    generate_sample_corpus(root, seed=7, pages=300, pages_per_warc=100)
    return root


@pytest.fixture(scope="module")
def sample_run(ray_session, sample_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run1")
    cards = tmp_path_factory.mktemp("cards")
    result = run_pipeline(_config(**SMALL_SHARDS), str(sample_corpus / "warc"), out, cards_dir=cards, run_id="e2e-run")
    return result, cards


def test_ledger_balances_and_card_is_complete(sample_run):
    result, cards = sample_run
    card = result.card
    ledger = card["ledger"]
    assert ledger["balanced"], ledger["explanation"]
    assert ledger["input_documents"] == ledger["kept"] + ledger["rejected_total"]
    assert ledger["input_documents"] >= 300  # every page is a document (or a read reject)
    assert 0 < ledger["kept"] < ledger["input_documents"]
    assert [s["stage"] for s in card["stages"]] == ["read", "url_filter", "extract_html", "length_filter", "decontaminate", "url_key", "pii_scrub", "lang_id", "url_dedup", "exact_dedup", "fuzzy_dedup", "line_dedup",
        "gopher_repetition", "gopher_quality", "c4_quality", "dirty_words", "token_distribution",
        "quality_static", "static_labels", "embed_classifier"]
    # Ray runs the extraction in each worker's main thread, so the per-document time bound holds.
    extract = card["stages"][2]
    assert extract["counters"].get("documents_bound_by_watchdog", 0) == 0
    assert extract["counters"]["html_bytes_in"] > 0 and extract["counters"]["code_blocks_kept"] > 0
    # every document extract_html kept is counted under the path that produced its text
    paths = card["extraction"]
    assert paths["stage"] == "extract_html" and paths["strategy"] == "container"
    assert sum(paths["by_path"].values()) == extract["kept"] and paths["by_path"]["container"] > 0
    assert "## Extraction paths" in (result.out_dir / "README.md").read_text()
    # every kept whole-page document had a whole-page pass (no forum pages in the sample), with or without the comparison
    compared = paths["whole_page_comparisons"]
    assert compared["ran"] + compared["skipped"] >= paths["by_path"]["trafilatura"] + paths["by_path"]["fallback"] > 0
    # the URL filter's removals per category and for words add up to its rejects
    url_filter = card["url_filter"]
    assert url_filter["documents_in"] == card["stages"][0]["kept"]
    assert sum(url_filter["by_category"].values()) + url_filter["banned_word"] == card["stages"][1]["rejected"]
    assert "adult" in url_filter["by_category"] and "## URL filter" in (result.out_dir / "README.md").read_text()
    assert card["decontamination"]["benchmarks"] == {}  # the shipped pipeline names none
    for key in ("run_id", "created", "code", "pipeline", "input", "environment", "output", "timing"):
        assert key in card
    assert card["pipeline"]["config_sha256"] == load_pipeline(REPO / "pipelines" / "llama3.yaml").config_hash() or card["pipeline"]["resolved"]["output"]["shard_input_mib"] == 0.25
    assert all(len(f["sha256"]) == 64 for f in card["input"]["files"])
    assert len(card["output"]["data"]) > 1  # several shards, so sharding is exercised
    # The same card beside the shards and under dataset_cards/<run-id>/.
    assert (result.out_dir / "README.md").is_file() and (result.out_dir / "plots" / "ledger.png").is_file()
    copy = cards / "e2e-run"
    assert json.loads((copy / "card.json").read_text()) == card
    assert (copy / "plots" / "stages.png").is_file()


def test_classifier_students_score_every_kept_document(sample_run, sample_corpus):
    result, _ = sample_run
    table = pq.read_table(sorted((result.out_dir / "data").glob("*.parquet")))
    for column in ("quality_static", "domain_code", "domain_math", "domain_prose", "topic_score"):
        values = table.column(column).to_pylist()
        assert None not in values and all(0.0 <= v <= 1.0 for v in values), column
    taxonomy = json.loads((REPO / "classifiers" / "domain" / "taxonomy.json").read_text())
    assert set(table.column("topic").to_pylist()) <= set(taxonomy["heads"]["topic"]["labels"])
    # Code tutorials of the sample corpus are found as code (the ground truth knows which they are).
    truth = {r["id"]: r["category"] for r in read_ground_truth(sample_corpus)}
    code = [c for i, c in zip(table.column("id").to_pylist(), table.column("domain_code").to_pylist(), strict=True) if truth.get(i) == "code"]
    assert code and sum(c >= 0.5 for c in code) >= 0.8 * len(code)
    # The card names each shipped model with the sha256 of the file the run used.
    models = {m["reference"]: m for m in result.card["environment"]["models"] if "reference" in m}
    for reference in ("builtin:quality_static", "builtin:domain_static", "builtin:topic_static"):
        assert len(models[reference]["sha256"]) == 64
    # The labels reuse the quality filter's embeddings: each kept page was tokenized once.
    labels = next(s for s in result.card["stages"] if s["stage"] == "static_labels")["counters"]
    assert labels["embeddings_reused"] == labels["documents_scored"] and labels["tokens_read"] == 0
    students = {s["stage"]: s for s in result.card["stages"]}
    quality = students["quality_static"]
    assert quality["counters"]["documents_scored"] == quality["documents_in"]
    # The default pipeline filters on quality, English only, and the card says what it removed.
    english = table.column("lang").to_pylist()
    scores = table.column("quality_static").to_pylist()
    assert all(s >= 0.32 for s, lang in zip(scores, english, strict=True) if lang == "en")
    (summary,) = result.card["quality_filters"]
    assert summary["stage"] == "quality_static" and summary["threshold"] == 0.32 and summary["languages"] == ["en"]
    assert summary["removed"] == quality["rejected_by_reason"].get("quality_low", 0) > 0
    assert 0 < len(summary["kept_examples"]) <= 5 and all(k["score"] >= 0.32 for k in summary["kept_examples"])
    assert all(r["score"] < 0.32 for r in summary["removed_examples"]) and len(summary["removed_examples"]) == min(5, summary["removed"])
    readme = (result.out_dir / "README.md").read_text()
    assert f"`quality_static` removed **{summary['removed']:,}**" in readme and summary["removed_examples"][0]["id"] in readme
    # The teacher audits the students on its hashed sample: agreement counts are in the card.
    teacher = students["embed_classifier"]["counters"]
    assert teacher["documents_scored"] + teacher["documents_not_sampled"] == students["embed_classifier"]["documents_in"]
    if teacher["documents_scored"]:
        assert teacher["audit_topic_documents"] == teacher["documents_scored"] >= teacher["audit_topic_agree"]
        assert teacher["audit_quality_static_documents"] == teacher["documents_scored"]


def test_readme_is_a_hugging_face_dataset_card(sample_run):
    result, _ = sample_run
    text = (result.out_dir / "README.md").read_text()
    assert text.startswith("---\n")
    header = yaml.safe_load(text.split("---", 2)[1])
    assert header["configs"][0]["data_files"][0]["path"] == "data/*.parquet"
    for key in ("license", "language", "size_categories", "pretty_name"):
        assert key in header
    # "other" needs a name and a link on the Hub; the link is the card's own License section
    assert header["license"] == "other" and header["license_name"] == "per-source-terms"
    assert header["license_link"] == "README.md#license" and "\n## License\n" in text
    assert header["language"][0] == "en" and len(header["language"]) >= 5  # from lang_id, most documents first


def test_shards_load_with_hf_datasets_and_rejects_carry_no_text(sample_run, tmp_path):
    datasets = pytest.importorskip("datasets")
    result, _ = sample_run
    files = sorted(str(p) for p in (result.out_dir / "data").glob("*.parquet"))
    ds = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "hf"))
    assert len(ds) == result.card["ledger"]["kept"]
    assert {"id", "url", "text", "source", "fetch_time", "title"} <= set(ds.column_names)
    assert "html" not in ds.column_names
    assert all(t and t.strip() for t in ds["text"][:50])
    for path in (result.out_dir / "rejects").glob("*.parquet"):
        schema = pq.read_schema(path)
        assert "text" not in schema.names and "html" not in schema.names
        table = pq.read_table(path)
        assert table.column("reason").null_count == 0 and table.column("stage").null_count == 0
    meta = pq.ParquetFile(files[0]).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_every_input_document_is_accounted_for_by_id(sample_run):
    result, _ = sample_run
    kept = pa.concat_tables([pq.read_table(p, columns=["id"]) for p in (result.out_dir / "data").glob("*.parquet")])
    rejected = pa.concat_tables([pq.read_table(p, columns=["id"]) for p in (result.out_dir / "rejects").glob("*.parquet")])
    ids = kept.column("id").to_pylist() + rejected.column("id").to_pylist()
    assert len(ids) == len(set(ids)) == result.card["ledger"]["input_documents"]


def test_audit_passes_on_fresh_run_and_on_card_copy(sample_run):
    result, cards = sample_run
    report = audit(result.out_dir)
    assert report.ok, report.mismatches
    assert report.checks > 20
    assert audit(cards / "e2e-run").ok


@pytest.mark.parametrize("tamper", ["alter_shard", "delete_shard", "drop_reject_row", "extra_shard", "edit_ledger"])
def test_audit_fails_on_tampered_run(sample_run, tmp_path, tamper):
    result, _ = sample_run
    copy = tmp_path / "copy"
    shutil.copytree(result.out_dir, copy)
    card = json.loads((copy / "card.json").read_text())
    card["output"]["root"] = str(copy)
    (copy / "card.json").write_text(json.dumps(card))
    data = sorted((copy / "data").glob("*.parquet"))
    rejects = sorted((copy / "rejects").glob("*.parquet"))
    if tamper == "alter_shard":
        table = pq.read_table(data[0])
        texts = table.column("text").to_pylist()
        texts[0] = texts[0] + " altered"
        pq.write_table(table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts)), data[0], compression="zstd")
        expected = f"data/{data[0].name}"
    elif tamper == "delete_shard":
        data[-1].unlink()
        expected = "missing on disk"
    elif tamper == "drop_reject_row":
        table = pq.read_table(rejects[0])
        pq.write_table(table.slice(1), rejects[0], compression="zstd")
        expected = f"rejects/{rejects[0].name}"
    elif tamper == "extra_shard":
        shutil.copy(data[0], copy / "data" / "part-99999-of-99999.parquet")
        expected = "not listed in the card"
    else:
        card["ledger"]["kept"] += 1
        (copy / "card.json").write_text(json.dumps(card))
        expected = "ledger kept"
    report = audit(copy)
    assert not report.ok
    assert expected in report.mismatches[0], report.mismatches


def test_rerun_is_byte_identical(sample_run, sample_corpus, tmp_path):
    result, _ = sample_run
    again = run_pipeline(_config(**SMALL_SHARDS), str(sample_corpus / "warc"), tmp_path / "run2", cards_dir=None, run_id="e2e-rerun")
    first = {e["path"]: e["sha256"] for e in result.card["output"]["data"] + result.card["output"]["rejects"]}
    second = {e["path"]: e["sha256"] for e in again.card["output"]["data"] + again.card["output"]["rejects"]}
    assert first == second


def test_real_warc_files_including_broken_ones(ray_session, tmp_path):
    warc_dir = shared_path("data", "warc")
    result = run_pipeline(_config(), str(warc_dir), tmp_path / "out", cards_dir=None, run_id="real-warcs")
    ledger = result.card["ledger"]
    assert ledger["balanced"], ledger["explanation"]
    reasons = ledger["rejected_by_stage_reason"]
    # Deliberately broken files are quarantined with a reason, not a crash.
    assert any(k.startswith("read/") and ("corrupt" in k or "truncated" in k or "unsupported" in k) for k in reasons), reasons
    # About 150 real HTML responses across the fixtures; the heuristic filters remove a share of
    # them (error and index pages, link lists), each with its rule as the reason, and the quality
    # filter about a quarter of what they keep (37 -> 27 when written).
    assert ledger["kept"] >= 20
    assert 0 < ledger["rejected_by_stage_reason"].get("quality_static/quality_low", 0) <= 15
    assert any(k.split("/")[0] in ("gopher_repetition", "gopher_quality", "c4_quality", "dirty_words", "token_distribution") for k in reasons), reasons
    assert audit(result.out_dir).ok


def test_jsonl_corpus_passes_text_through(ray_session, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    def text(i):  # distinct texts (no two are near duplicates) of 14 * (1 + i % 6) + 2 words
        return " ".join(f"w{(i * 7919 + j * 104729) % 100003}" for j in range(14 * (1 + i % 6) + 2))

    lines = [json.dumps({"id": f"doc{i}", "url": f"https://example.org/{i}", "text": text(i)}) for i in range(40)]
    lines.insert(5, "{not json")
    (corpus / "part.jsonl").write_text("\n".join(lines) + "\n")
    # Through dedup only: the texts are made-up tokens that every quality heuristic would reject.
    result = run_pipeline(_config(until="line_dedup"), str(corpus), tmp_path / "out", cards_dir=None, run_id="jsonl")
    ledger = result.card["ledger"]
    assert ledger["input_documents"] == 41
    assert ledger["rejected_by_stage_reason"].get("read/malformed_json") == 1
    # 1..3 repeats (< 50 words) are too short, 4..6 are kept.
    assert ledger["kept"] == sum(1 for i in range(40) if 14 * (1 + i % 6) + 2 >= 50)
    assert ledger["balanced"]
    # --inputs re-hashes the corpus: it passes as written, and fails once an input file changes.
    assert audit(result.out_dir, inputs=True).ok
    with open(corpus / "part.jsonl", "a") as fh:
        fh.write(json.dumps({"text": "added later"}) + "\n")
    report = audit(result.out_dir, inputs=True)
    assert not report.ok and "input part.jsonl: sha256 differs" in report.mismatches[0]


def _outcome(out_dir):
    kept = set(pa.concat_tables([pq.read_table(p, columns=["id"]) for p in (out_dir / "data").glob("*.parquet")]).column("id").to_pylist())
    rejects = {r["id"]: r for r in pa.concat_tables([pq.read_table(p) for p in (out_dir / "rejects").glob("*.parquet")]).to_pylist()}
    return kept, rejects


def test_url_and_exact_dedup_against_planted_ground_truth(sample_run, sample_corpus):
    result, _ = sample_run
    truth = {t["id"]: t for t in map(json.loads, (sample_corpus / "ground_truth.jsonl").read_text().splitlines())}
    kept, rejects = _outcome(result.out_dir)
    stage_names = [s["stage"] for s in result.card["stages"]]
    from_url_dedup = set(stage_names[stage_names.index("url_dedup"):])
    reached_dedup = lambda i: i in kept or rejects[i]["stage"] in from_url_dedup

    # URL families: an original and its re-fetches (under URL spellings that normalise alike).
    families: dict[str, set[str]] = {}
    for doc_id, t in truth.items():
        if t["url_refetch_of"]:
            families.setdefault(t["url_refetch_of"], {t["url_refetch_of"]}).add(doc_id)
    assert len(families) >= 5
    expected_url_rejects = set()
    for members in families.values():
        members = {m for m in members if reached_dedup(m)}
        survivors = [m for m in members if m in kept or rejects[m]["reason"] != "url_duplicate"]
        assert len(survivors) == 1, members
        expected_url_rejects |= members - set(survivors)
    url_rejects = {i for i, r in rejects.items() if r["reason"] == "url_duplicate"}
    assert url_rejects == expected_url_rejects  # precision and recall 1.0 on planted URL duplicates

    # Exact duplicates: each planted cluster keeps exactly one document.
    clusters: dict[str, set[str]] = {}
    for doc_id, t in truth.items():
        if t["exact_dup_of"]:
            clusters.setdefault(t["exact_dup_of"], {t["exact_dup_of"]}).add(doc_id)
    assert len(clusters) >= 5
    for members in clusters.values():
        alive = {m for m in members if reached_dedup(m) and rejects.get(m, {}).get("reason") != "url_duplicate"}
        if alive:  # one survivor of the exact step (later steps may still remove it)
            assert sum(1 for m in alive if m in kept or rejects[m]["stage"] not in ("url_dedup", "exact_dedup")) == 1, members
    exact_rejects = [r for r in rejects.values() if r["reason"] == "exact_duplicate"]
    assert exact_rejects and all(r["detail"].startswith("survivor=") for r in exact_rejects)
    cluster_of = lambda i: truth[i]["exact_dup_of"] or i
    for r in exact_rejects:  # precision: a reject and its survivor were planted as the same text
        assert cluster_of(r["id"]) == cluster_of(r["detail"].removeprefix("survivor="))


def test_line_dedup_removes_planted_lines_repeated_across_documents(sample_run, sample_corpus):
    """The sample plants lines from a fixed pool; a pool line in more than 6 of the documents that
    reach line dedup must be gone from every kept document, a rarer one must stay."""
    result, _ = sample_run
    truth = {t["id"]: t for t in map(json.loads, (sample_corpus / "ground_truth.jsonl").read_text().splitlines())}
    kept_rows = pa.concat_tables([pq.read_table(p) for p in (result.out_dir / "data").glob("*.parquet")]).to_pylist()
    _, rejects = _outcome(result.out_dir)
    stage_names = [s["stage"] for s in result.card["stages"]]
    after = set(stage_names[stage_names.index("line_dedup"):])
    reached = [r["id"] for r in kept_rows] + [i for i, r in rejects.items() if r["stage"] in after]
    documents_with = Counter(line for i in reached for line in set(truth[i]["planted_lines"]))
    frequent = {line for line, n in documents_with.items() if n > 6}
    assert frequent and len(frequent) < len(documents_with)
    rare_kept = rare = 0
    for row in kept_rows:
        lines = set(row["text"].split("\n"))
        for line in truth[row["id"]]["planted_lines"]:
            if line in frequent:
                assert line not in lines, (row["id"], line)
            else:
                rare += 1
                rare_kept += line in lines
    # A rare planted line is only missing where extraction itself dropped it, never by line dedup.
    assert rare and rare_kept / rare >= 0.85
    stage = next(s for s in result.card["stages"] if s["stage"] == "line_dedup")
    assert stage["counters"]["lines_removed"] >= sum(r["lines_removed"] for r in kept_rows) > 0
    assert stage["most_repeated"] and result.card["dedup"]["levels"]["line_dedup"]["frequent_keys"] >= len(frequent)


def _scrubbed_by_default(pii: dict) -> bool:
    """Planted values the default pii_scrub must remove (private IPv6 and malformed IBANs are not PII to it)."""
    import ipaddress

    from stdnum import iban

    if pii["type"] in ("ipv4", "ipv6"):
        return ipaddress.ip_address(pii["value"]).is_global
    if pii["type"] == "iban":
        return iban.is_valid(pii["value"].replace(" ", ""))
    return True


def test_no_planted_pii_leaks_into_shards_card_rejects_or_logs(sample_run, sample_corpus):
    import ray

    result, cards = sample_run
    truth = [json.loads(line) for line in (sample_corpus / "ground_truth.jsonl").read_text().splitlines()]
    planted = {p["value"] for t in truth for p in t["planted_pii"] if _scrubbed_by_default(p)}
    assert len(planted) > 40
    kept = pa.concat_tables([pq.read_table(p) for p in (result.out_dir / "data").glob("*.parquet")])
    texts = "\n".join(t or "" for t in kept.column("text").to_pylist()) + "\n".join(u or "" for u in kept.column("url").to_pylist())
    assert "<EMAIL>" in texts and "<PHONE>" in texts and "<SECRET>" in texts
    rejects = pa.concat_tables([pq.read_table(p) for p in (result.out_dir / "rejects").glob("*.parquet")])
    records = {
        "shards": texts,
        "rejects": json.dumps(rejects.to_pylist(), default=str),
        "card": (result.out_dir / "card.json").read_text() + (result.out_dir / "README.md").read_text(),
        "card copy": "".join(p.read_text() for p in (cards / "e2e-run").glob("*.*") if p.suffix in (".json", ".md")),
    }
    logs = Path(ray._private.worker._global_node.get_session_dir_path()) / "logs"
    records["ray logs"] = "".join(p.read_text(errors="replace") for p in logs.rglob("*") if p.is_file() and p.suffix in (".log", ".out", ".err"))
    assert records["ray logs"] and records["rejects"]
    for where, blob in records.items():
        leaked = sorted(v for v in planted if v in blob)
        assert not leaked, f"{len(leaked)} planted PII values in {where}"

    pii = result.card["pii"]
    assert pii["stage"] == "pii_scrub" and pii["replacement"] == "placeholder"
    assert pii["documents_rejected_pii_domain"] == 0  # the shipped blocklist is empty
    for kind in ("email", "phone", "ip", "card", "iban", "ssn", "secret"):
        assert pii["by_type"][kind]["occurrences"] >= pii["by_type"][kind]["documents"] > 0, kind
    counts = kept.column("pii_counts").to_pylist()
    assert 0 < sum(1 for c in counts if any(c.values())) <= pii["documents_with_pii"]
    assert "## PII" in (result.out_dir / "README.md").read_text()


def test_actor_stage_last_after_a_shuffle(ray_session, sample_corpus, tmp_path):
    """A model (actor-pool) stage as the last stage after a global step: the shard shuffle must
    not receive the column-less empty blocks the shuffle's empty partitions leave behind."""
    data = yaml.safe_load((REPO / "pipelines" / "llama3.yaml").read_text())
    data["output"].update(SMALL_SHARDS)
    keep = {"extract_html", "length_filter", "line_dedup"}
    data["stages"] = [s for s in data["stages"] if s["stage"] in keep] + [{"stage": "lang_id"}]
    data.pop("mix", None)
    config = parse_pipeline(data, origin="actor-last")
    result = run_pipeline(config, str(sample_corpus / "warc"), tmp_path / "out", cards_dir=None, run_id="actor-last")
    assert result.card["ledger"]["balanced"]
    assert [s["stage"] for s in result.card["stages"]][-1] == "lang_id"
    assert len(result.card["output"]["data"]) > 1


def test_decontamination_in_a_run_has_its_card_table(ray_session, tmp_path, monkeypatch):
    """A JSONL corpus with benchmark questions planted in some pages, the shipped stages through
    decontaminate with a benchmark named: the pages are removed, the card counts them per benchmark,
    and the audit passes."""
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    from tests.stages.test_decontaminate import QA, WEB

    (tmp_path / "bench.jsonl").write_text("\n".join(json.dumps(q) for q in QA) + "\n")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rows = [{"id": f"clean{i}", "url": f"https://e.org/c{i}", "text": f"Issue {i}. " + WEB * 2} for i in range(12)]
    rows += [{"id": f"planted{i}", "url": f"https://e.org/p{i}", "text": WEB + QA[i % 3]["question"] + " " + WEB} for i in range(5)]
    (corpus / "part.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    data = yaml.safe_load((REPO / "pipelines" / "llama3.yaml").read_text())
    names = [s["stage"] for s in data["stages"]]
    data["stages"] = data["stages"][: names.index("decontaminate") + 1]
    data["stages"][-1]["params"]["benchmarks"] = [{"name": "toy-qa", "path": str(tmp_path / "bench.jsonl"), "fields": ["question"]}]
    data.pop("mix", None)
    result = run_pipeline(parse_pipeline(data, origin="test"), str(corpus), tmp_path / "out", cards_dir=None, run_id="decon")
    card = result.card
    assert card["ledger"]["balanced"]
    assert card["ledger"]["rejected_by_stage_reason"]["decontaminate/decontaminated"] == 5
    assert card["decontamination"]["benchmarks"]["toy-qa"]["documents"] == 5
    assert "| toy-qa | 5 |" in (result.out_dir / "README.md").read_text()
    assert audit(result.out_dir).ok
