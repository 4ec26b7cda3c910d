"""`curate distill`: a quality student trained on a run's own documents, labelled by the teacher.

The Llama 3 recipe (Llama 2 labelled a sample of the web; a small classifier learned those labels
and scored everything), on the user's crawl instead of the 313 human-labelled DCLM pages:

1. **Sample.** From a finished run's kept documents (``OUT/data``), those in the student's
   languages, the ``sample`` documents with the smallest xxh64 of their id (salted with ``seed``):
   a hashed sample, the same whatever the shard layout, and reproducible from the ids alone.
   The run must not have filtered on the quality column already (its quality stage at
   ``min_score: 0``, label only): a sample of what a filter kept cannot teach the student the
   pages it would remove. ``--allow-filtered`` overrides, and the record says so.
2. **Label.** The teacher scores the sample: ``embed_classifier``'s MiniLM + quality head (default)
   or any sequence classifier through ``hf_classifier`` (``--teacher-model``, a folder or a cached
   hub id; ``--teacher-label`` its positive label). ``--device cuda`` runs it on a GPU.
3. **Train.** A ``LogisticHead`` over the static embeddings (``builtin:static_minilm`` by default)
   on the teacher's probabilities as soft targets, on the sample minus a hashed ``held_out``
   fraction; l2 chosen by cross-validation (agreement with the teacher) on the training part.
4. **Measure.** On the held-out part: agreement with the teacher at 0.5 and at the pipeline's
   threshold, ROC-AUC of the student against the teacher's side of 0.5, Spearman correlation.
5. **Store.** ``STUDENT/head.json`` (its metrics name the run, the teacher and the sample),
   ``sample_ids.txt`` (the training and held-out ids, tab-separated with the teacher's score),
   ``distill.json`` (everything measured, sha256s of the head and the ids file) and
   ``pipeline.yaml``: the run's pipeline with ``quality_static.head`` set to this head and its
   threshold restored. ``curate run --pipeline STUDENT/pipeline.yaml`` scores a crawl with it; that
   run's card names the head (path, sha256, ``trained_on``: this run and teacher).
"""
from __future__ import annotations

import hashlib
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash
import yaml

from curate.models.heads import LogisticHead, fit_logistic

STAGE = "quality_static"
# The threshold a distilled student gets in its pipeline when the source run's was 0 (label only):
# the shipped head's, chosen on the human labels (classifiers/quality_static/metrics.json). A student
# learns the teacher's P(high quality), which was fitted to the same labels, so the scale carries.
DEFAULT_MIN_SCORE = 0.32
L2_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)


class DistillError(Exception):
    pass


@dataclass
class DistillResult:
    student_dir: Path
    record: dict


def _sample_key(document_id: str, seed: int) -> int:
    return xxhash.xxh64_intdigest(document_id.encode("utf-8"), seed=seed)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    rank = lambda v: np.argsort(np.argsort(v, kind="stable"), kind="stable").astype(np.float64)
    return float(np.corrcoef(rank(a), rank(b))[0, 1]) if len(a) > 2 else float("nan")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def read_run(out: Path) -> tuple[dict, dict]:
    """The run's card and its quality stage's resolved params."""
    card_path = out / "card.json"
    if not card_path.is_file():
        raise DistillError(f"{out}: no card.json: not the OUT of a finished curate run")
    card = json.loads(card_path.read_text(encoding="utf-8"))
    stages = {s["stage"]: s.get("params", {}) for s in card["pipeline"]["resolved"]["stages"]}
    if STAGE not in stages:
        raise DistillError(f"{out}: the run's pipeline has no {STAGE} stage: there is no student to replace")
    return card, stages[STAGE]


def sample_documents(out: Path, card: dict, languages: list[str], size: int, seed: int) -> list[dict]:
    """The ``size`` kept documents (in ``languages``) with the smallest salted id hashes."""
    import heapq

    import pyarrow.parquet as pq

    heap: list[tuple[int, str, str]] = []  # (-key, id, text): a max-heap of the smallest keys
    for shard in card["output"]["data"]:
        columns = ["id", "text"] + (["lang"] if languages else [])
        table = pq.read_table(out / shard["path"], columns=columns)
        ids, texts = table.column("id").to_pylist(), table.column("text").to_pylist()
        langs = table.column("lang").to_pylist() if languages else [None] * len(ids)
        for doc_id, text, lang in zip(ids, texts, langs, strict=True):
            if not text or (languages and lang not in languages):
                continue
            key = _sample_key(doc_id, seed)
            if len(heap) < size:
                heapq.heappush(heap, (-key, doc_id, text))
            elif -heap[0][0] > key:
                heapq.heapreplace(heap, (-key, doc_id, text))
    rows = sorted(((-k, i, t) for k, i, t in heap))
    return [{"id": i, "text": t, "key": k} for k, i, t in rows]


def teacher_scores(texts: list[str], ids: list[str], *, teacher_head: str, teacher_model: str | None, teacher_label: str | None,
                   device: str, batch_documents: int = 64) -> tuple[np.ndarray, dict]:
    """P(high quality) of each text by the teacher, and a description of the teacher for the record."""
    import pyarrow as pa

    if teacher_model:
        from curate.stages.hf_classifier import HfClassifier, HfClassifierParams

        params = HfClassifierParams(model=teacher_model, labels=[teacher_label] if teacher_label else None,
                                    num_gpus=1.0 if device == "cuda" else 0.0)
        stage = HfClassifier(params)
        columns = list(params.score_columns())
        if len(columns) != 1:
            raise DistillError(f"teacher model {teacher_model}: name its positive label with --teacher-label (columns {columns})")
        column, description = columns[0], {"kind": "hf_classifier", "model": teacher_model, "label": teacher_label}
    else:
        from curate.stages.embed_classifier import EmbedClassifier, EmbedClassifierParams

        params = EmbedClassifierParams(quality_head=teacher_head, taxonomy=None, heads=[], num_gpus=1.0 if device == "cuda" else 0.0)
        stage = EmbedClassifier(params)
        column, description = "quality_embed", {"kind": "embed_classifier", "quality_head": teacher_head, "encoder": params.encoder}
    stage.ensure_setup()
    started = time.perf_counter()
    scores = []
    for start in range(0, len(texts), batch_documents):
        batch = pa.table({"id": ids[start:start + batch_documents], "text": texts[start:start + batch_documents]})
        out = stage.process(batch)
        if out.rejected.num_rows:
            raise DistillError("the teacher rejected documents: give it no threshold")
        scores += out.kept.column(column).to_pylist()
    seconds = time.perf_counter() - started
    description.update({"documents_per_second": round(len(texts) / seconds, 1) if seconds else None, "device": device})
    return np.array([np.nan if s is None else s for s in scores], dtype=np.float64), description


def _fit_soft(x: np.ndarray, target: np.ndarray, seed: int) -> tuple[np.ndarray, float, float]:
    """Logistic head on soft targets, l2 chosen by 5-fold agreement with the teacher's side of 0.5."""
    folds = np.array([_sample_key(str(i), seed + 7) % 5 for i in range(len(target))])
    best = None
    for l2 in L2_GRID:
        agree = []
        for fold in range(5):
            test = folds == fold
            train = ~test
            if not (np.any(target[train] < 0.5) and np.any(target[train] >= 0.5)) or not test.any():
                continue
            w, b = fit_logistic(x[train], target[train], l2=l2)
            agree.append(float(np.mean((_sigmoid(x[test] @ w + b) >= 0.5) == (target[test] >= 0.5))))
        score = (statistics.fmean(agree) if agree else 0.0, -l2)
        if best is None or score > best[0]:
            best = (score, l2)
    l2 = best[1]
    w, b = fit_logistic(x, target, l2=l2)
    return w, b, l2


def distill(out: str | Path, student_dir: str | Path, *, sample: int = 4000, seed: int = 0, held_out: float = 0.2,
            teacher_head: str = "builtin:quality_embed", teacher_model: str | None = None, teacher_label: str | None = None,
            device: str = "cpu", embeddings: str | None = None, min_score: float | None = None,
            allow_filtered: bool = False, log=print) -> DistillResult:
    from curate.metrics import roc_auc
    from curate.models.resolve import resolve_model
    from curate.models.static_embed import StaticEmbedder, local_folder

    out, student_dir = Path(out), Path(student_dir)
    card, params = read_run(out)
    if params.get("min_score", 0) > 0 and not allow_filtered:
        raise DistillError(
            f"{out}: the run filtered on {STAGE} (min_score {params['min_score']}): its kept documents lack the pages a "
            f"filter removes, so a student trained on them never sees one. Run the pipeline with {STAGE}.min_score: 0 "
            "(label only) first, or pass --allow-filtered")
    languages = list(params.get("languages") or [])
    embeddings = embeddings or params.get("embeddings", "builtin:static_minilm")
    started = time.perf_counter()
    documents = sample_documents(out, card, languages, sample, seed)
    if len(documents) < 50:
        raise DistillError(f"{out}: only {len(documents)} kept documents in {languages or 'any language'}: too few to train a student")
    log(f"distill: {len(documents):,} sampled documents from run {card['run_id']} ({', '.join(languages) or 'all languages'})")
    ids, texts = [d["id"] for d in documents], [d["text"] for d in documents]
    target, teacher = teacher_scores(texts, ids, teacher_head=teacher_head, teacher_model=teacher_model,
                                     teacher_label=teacher_label, device=device)
    log(f"distill: teacher {teacher['kind']} labelled them at {teacher['documents_per_second']} documents/s")
    usable = ~np.isnan(target)
    head_max_tokens = 1024
    embedder = StaticEmbedder(local_folder(resolve_model(embeddings, allow_hub=True)), max_tokens=head_max_tokens)
    x = embedder.encode(texts).astype(np.float64)
    # Held out by a second salted hash, so the split does not depend on the sample's order.
    is_held = np.array([_sample_key(i, seed + 1) < held_out * 2**64 for i in ids]) & usable
    is_train = usable & ~is_held
    if not (np.any(target[is_train] < 0.5) and np.any(target[is_train] >= 0.5)):
        raise DistillError("the teacher put every sampled document on one side of 0.5: nothing to learn (a larger or wider sample?)")
    weights, bias, l2 = _fit_soft(x[is_train], target[is_train], seed)
    student = _sigmoid(x @ weights + bias)
    threshold = min_score if min_score is not None else (params.get("min_score") or DEFAULT_MIN_SCORE)
    held = np.flatnonzero(is_held)
    teacher_side = (target[held] >= 0.5).astype(int)
    agreement = {
        "held_out_documents": int(held.size),
        "agreement_at_0.5": round(float(np.mean((student[held] >= 0.5) == (target[held] >= 0.5))), 4) if held.size else None,
        f"agreement_at_threshold_{threshold}": round(float(np.mean((student[held] >= threshold) == (target[held] >= threshold))), 4) if held.size else None,
        "auc_vs_teacher_side": round(roc_auc(student[held].tolist(), teacher_side.tolist()), 4) if 0 < teacher_side.sum() < held.size else None,
        "spearman": round(_spearman(student[held], target[held]), 4) if held.size > 2 else None,
        "teacher_below_threshold": round(float(np.mean(target[held] < threshold)), 4) if held.size else None,
        "student_below_threshold": round(float(np.mean(student[held] < threshold)), 4) if held.size else None,
    }
    student_dir.mkdir(parents=True, exist_ok=True)
    ids_path = student_dir / "sample_ids.txt"
    with ids_path.open("w", encoding="utf-8") as f:
        f.write("# id\tpart\tteacher P(high quality)\n")
        for i, doc_id in enumerate(ids):
            part = "held_out" if is_held[i] else ("train" if is_train[i] else "unscored")
            f.write(f"{doc_id}\t{part}\t{'' if np.isnan(target[i]) else round(float(target[i]), 6)}\n")
    ids_sha = hashlib.sha256(ids_path.read_bytes()).hexdigest()
    trained_on = {"run_id": card["run_id"], "run_out": str(out.resolve()), "input_fingerprint": card["input"]["fingerprint_sha256"],
                  "teacher": teacher, "sample": len(ids), "train": int(is_train.sum()), "held_out": int(held.size), "seed": seed,
                  "languages": languages, "sample_ids_sha256": ids_sha, "filtered_run": bool(params.get("min_score", 0) > 0)}
    metrics = {"trained_on": trained_on, "l2": l2, "soft_targets": True, "agreement_with_teacher": agreement,
               "embeddings_sha256": hashlib.sha256((Path(local_folder(resolve_model(embeddings, allow_hub=True))) / "model.safetensors").read_bytes()).hexdigest()}
    head = LogisticHead(weights, bias, encoder=embeddings, max_tokens=head_max_tokens, positive_label="high_quality", metrics=metrics)
    head_path = student_dir / "head.json"
    head.save(head_path)
    head_sha = hashlib.sha256(head_path.read_bytes()).hexdigest()
    pipeline_path = student_dir / "pipeline.yaml"
    pipeline_path.write_text(student_pipeline(card, head_path.resolve(), threshold), encoding="utf-8")
    record = {"format": "curate.distill/1", "head": str(head_path), "head_sha256": head_sha, "sample_ids": str(ids_path),
              "pipeline": str(pipeline_path), "min_score": threshold, "seconds": round(time.perf_counter() - started, 1), **metrics}
    (student_dir / "distill.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return DistillResult(student_dir, record)


def student_pipeline(card: dict, head: Path, threshold: float) -> str:
    """The run's pipeline (as its card resolved it) with the quality stage scoring by ``head``."""
    resolved = card["pipeline"]["resolved"]
    body = {k: v for k, v in resolved.items() if k not in ("stages",)}
    stages = []
    for stage in resolved["stages"]:
        entry = {"stage": stage["stage"], "params": dict(stage.get("params", {}))}
        if stage["stage"] == STAGE:
            entry["params"].update({"head": str(head), "min_score": threshold})
        stages.append(entry)
    body["stages"] = stages
    body["description"] = f"{resolved.get('description', '')} — quality student distilled from run {card['run_id']}".strip(" —")
    header = (f"# Written by `curate distill` from run {card['run_id']}: the run's pipeline with {STAGE} scoring by\n"
              f"# the student distilled from that run's documents ({head}).\n")
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)
