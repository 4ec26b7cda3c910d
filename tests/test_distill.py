"""`curate distill`: a student trained on a run's own documents, labelled by the MiniLM teacher, then
used by the next run — on real Common Crawl pages from ../shared and on the sample corpus."""
from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from curate.audit import audit
from curate.cli import main as cli_main
from curate.config import load_pipeline, parse_pipeline
from curate.distill import DistillError, distill
from curate.run import run_pipeline
from curate.sample import generate_sample_corpus
from evals.quality import labelled_union, roc_auc
from tests.conftest import shared_path

pytestmark = pytest.mark.slow


def _label_only(first_stages: list[dict]) -> dict:
    return {"name": "distill-test", "seed": 0, "stages": [*first_stages, {"stage": "lang_id"},
                                                            {"stage": "quality_static", "params": {"min_score": 0.0}}],
            "output": {"shard_input_mib": 0.25}}


def _check_student(student, run) -> dict:
    record = json.loads((student / "distill.json").read_text())
    ids = (student / "sample_ids.txt").read_text().splitlines()[1:]
    assert record["head_sha256"] == hashlib.sha256((student / "head.json").read_bytes()).hexdigest()
    assert record["trained_on"]["sample_ids_sha256"] == hashlib.sha256((student / "sample_ids.txt").read_bytes()).hexdigest()
    assert record["trained_on"]["run_id"] == run.card["run_id"] and not record["trained_on"]["filtered_run"]
    parts = [line.split("\t")[1] for line in ids]
    assert parts.count("train") == record["trained_on"]["train"] and parts.count("held_out") == record["trained_on"]["held_out"] > 0
    kept_ids = set()
    import pyarrow.parquet as pq

    for shard in sorted((run.out_dir / "data").glob("*.parquet")):
        kept_ids |= set(pq.read_table(shard, columns=["id"]).column("id").to_pylist())
    assert {line.split("\t")[0] for line in ids} <= kept_ids  # the sample is the run's own documents
    return record


def test_distil_on_real_pages_and_the_next_run_uses_the_student(ray_session, tmp_path):
    rows, _ = labelled_union(shared_path("data", "quality", "dclm-human"))
    corpus = tmp_path / "dclm.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"dclm-{i}", "text": r["text"]}) + "\n" for i, r in enumerate(rows)), encoding="utf-8")
    labels = {f"dclm-{i}": int(r["label"]) for i, r in enumerate(rows)}
    run = run_pipeline(parse_pipeline(_label_only([]), origin="test"), str(corpus), tmp_path / "labelled", cards_dir=tmp_path / "cards")

    student = tmp_path / "student"
    assert cli_main(["distill", str(run.out_dir), "--student", str(student), "--sample", "250"]) == 0
    record = _check_student(student, run)
    agreement = record["agreement_with_teacher"]
    # Real pages: the student follows its teacher on pages it was not trained on.
    assert agreement["agreement_at_0.5"] >= 0.8 and agreement["spearman"] >= 0.6, agreement

    # The written pipeline scores with the student; the next run's card names it and where it came from.
    pipeline = load_pipeline(student / "pipeline.yaml")
    quality = next(s for s in pipeline.stages if s.cls.name == "quality_static")
    assert quality.params.head == str((student / "head.json").resolve()) and quality.params.min_score == 0.32
    second = run_pipeline(pipeline, str(corpus), tmp_path / "filtered", cards_dir=tmp_path / "cards")
    head_entry = next(m for m in second.card["environment"]["models"] if m["role"] == "quality_head")
    assert head_entry["sha256"] == record["head_sha256"] and head_entry["trained_on"]["run_id"] == run.card["run_id"]
    assert second.card["ledger"]["balanced"] and audit(second.out_dir).ok
    (summary,) = second.card["quality_filters"]
    assert summary["removed"] > 0
    # Scored against the human labels it never saw (only the teacher did), the student still ranks.
    import pyarrow.parquet as pq

    table = pq.read_table(sorted((second.out_dir / "data").glob("*.parquet")), columns=["id", "quality_static"])
    scored = [(s, labels[i]) for i, s in zip(table.column("id").to_pylist(), table.column("quality_static").to_pylist(), strict=True)]
    assert roc_auc([s for s, _ in scored], [y for _, y in scored]) > 0.6

    # A run that already filtered on quality is refused (its kept pages lack what the filter removes).
    with pytest.raises(DistillError, match="filtered on quality_static"):
        distill(second.out_dir, tmp_path / "again")


def test_distil_on_the_sample_corpus(ray_session, tmp_path):
    root = tmp_path / "sample"
    generate_sample_corpus(root, seed=3, pages=300, pages_per_warc=150)
    config = _label_only([{"stage": "extract_html"}, {"stage": "length_filter", "params": {"min_words": 50}}])
    run = run_pipeline(parse_pipeline(config, origin="test"), str(root / "warc"), tmp_path / "labelled", cards_dir=tmp_path / "cards")
    result = distill(run.out_dir, tmp_path / "student", sample=200, seed=1, log=lambda *_: None)
    record = _check_student(tmp_path / "student", run)
    assert record == result.record
    assert record["trained_on"]["sample"] == 200 and record["trained_on"]["languages"] == ["en"]
    assert record["agreement_with_teacher"]["agreement_at_0.5"] >= 0.8
    written = yaml.safe_load((tmp_path / "student" / "pipeline.yaml").read_text())
    assert [s["stage"] for s in written["stages"]] == ["extract_html", "length_filter", "lang_id", "quality_static"]


def test_a_sequence_classifier_can_be_the_teacher(ray_session, tmp_path):
    """--teacher-model: any Hugging Face sequence classifier labels the sample through hf_classifier
    (here a tiny real BERT built on the spot); the record names it."""
    from tests.tiny_seqcls import WORDS, build_tiny_seqcls

    model = build_tiny_seqcls(tmp_path / "teacher", weight_std=0.5, seed=3)
    rng = __import__("random").Random(0)
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"t{i}", "text": " ".join(rng.choice(WORDS) for _ in range(60 + i % 40))}) + "\n"
                              for i in range(160)), encoding="utf-8")
    config = {"name": "hf-teacher", "seed": 0, "output": {"shard_input_mib": 0.25},
              "stages": [{"stage": "quality_static", "params": {"min_score": 0.0, "languages": []}}]}
    run = run_pipeline(parse_pipeline(config, origin="test"), str(corpus), tmp_path / "labelled", cards_dir=None)
    result = distill(run.out_dir, tmp_path / "student", sample=150, teacher_model=str(model), teacher_label="high",
                     log=lambda *_: None)
    teacher = result.record["trained_on"]["teacher"]
    assert teacher["kind"] == "hf_classifier" and teacher["model"] == str(model) and teacher["label"] == "high"
    assert result.record["trained_on"]["train"] + result.record["trained_on"]["held_out"] == 150
    with pytest.raises(DistillError, match="teacher-label"):
        distill(run.out_dir, tmp_path / "again", sample=150, teacher_model=str(model))
