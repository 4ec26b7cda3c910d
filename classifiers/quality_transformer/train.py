"""Fine-tune a Hugging Face encoder for sequence classification on labelled JSONL; optionally
report K-fold cross-validated ROC-AUC. The output folder loads in the ``hf_classifier`` stage.

    python classifiers/quality_transformer/train.py --label-names 0=low,1=high --cv 5 \\
        --subset ../shared/data/quality/dclm-human/agreement_data.jsonl

* Data: ``--train`` JSONL with ``text`` and ``label`` (ints or strings; default: the DCLM human
  annotations, 1 = high quality). Labels are ordered numerically (ints) or alphabetically (strings)
  and named ``str(label)`` unless ``--label-names`` renames them; ``--positive`` (default: the last
  label) is the class whose probability the AUC ranks by.
* Model: ``--base`` is any model reference (``builtin:all-MiniLM-L6-v2``, a local folder, a hub id
  in the cache) loaded with ``AutoModelForSequenceClassification``: the encoder's weights, a new
  classification head. Plain PyTorch: AdamW (no decay on biases and LayerNorm), linear warmup then
  linear decay, gradient clipping at 1, ``--epochs`` passes over the data in seeded random order,
  texts cut to their first ``--max-tokens`` tokens exactly as the stage cuts them.
* ``--cv K``: stratified K folds (seeded); each fold's model is trained on the other folds, saved,
  reloaded through ``curate.models.seqcls`` (the stage's code path) and scores its held-out fold.
  Reports per-fold AUC, and the AUC of the pooled out-of-fold scores with a bootstrap 95 % interval
  (``evals.quality``) — also on the ``--subset`` documents (e.g. the annotator-agreement set).
* Then the model is trained on all rows and saved (``save_pretrained``: model, tokenizer,
  ``id2label``) to ``--out`` with ``training.json`` (arguments, data sha256, CV report); ``--no-save``
  skips this.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

from curate.models import resolve_model
from curate.models.seqcls import CHARS_PER_TOKEN_BOUND, SequenceClassifier
from evals.quality import bootstrap_auc, roc_auc
from evals.shared import SHARED

DEFAULT_TRAIN = SHARED / "data" / "quality" / "dclm-human" / "majority_data.jsonl"
DEFAULT_OUT = HERE / "model"


def load_labelled(path: Path) -> tuple[list[str], list]:
    texts, labels = [], []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row.get("text"), str) or "label" not in row:
            raise ValueError(f"{path}:{number}: every row needs a string 'text' and a 'label'")
        if not isinstance(row["label"], (int, str)):
            raise ValueError(f"{path}:{number}: label {row['label']!r} is neither an int nor a string")
        texts.append(row["text"])
        labels.append(row["label"])
    if not texts:
        raise ValueError(f"{path}: no rows")
    return texts, labels


def label_space(raw: list, names: dict[str, str]) -> tuple[list, list[str]]:
    """(distinct raw labels in order, their names)."""
    distinct = set(raw)
    if all(isinstance(v, int) for v in distinct):
        order = sorted(distinct)
    elif all(isinstance(v, str) for v in distinct):
        order = sorted(distinct)
    else:
        raise ValueError(f"labels mix ints and strings: {sorted(map(repr, distinct))}")
    if len(order) < 2:
        raise ValueError(f"need at least two distinct labels, found {order}")
    unknown = sorted(set(names) - {str(v) for v in order})
    if unknown:
        raise ValueError(f"--label-names renames {unknown}, which are not labels in the data ({[str(v) for v in order]})")
    named = [names.get(str(v), str(v)) for v in order]
    if len(set(named)) != len(named):
        raise ValueError(f"label names {named} are not distinct")
    return order, named


def parse_label_names(value: str | None) -> dict[str, str]:
    if not value:
        return {}
    pairs = [item.split("=", 1) for item in value.split(",") if item.strip()]
    if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
        raise ValueError(f"--label-names {value!r}: expected label=name pairs, e.g. 0=low,1=high")
    return {k.strip(): v.strip() for k, v in pairs}


def stratified_folds(y: list[int], k: int, seed: int) -> list[list[int]]:
    """K folds of row indices, each with about the same share of every label."""
    rng = random.Random(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    position = 0
    for label in sorted(set(y)):
        rows = [i for i, v in enumerate(y) if v == label]
        rng.shuffle(rows)
        for row in rows:
            folds[position % k].append(row)
            position += 1
    return [sorted(fold) for fold in folds]


def fine_tune(base: str, texts: list[str], y: list[int], names: list[str], args):
    """A freshly initialised head on ``base``'s encoder, trained on (texts, y); returns (model, tokenizer)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.truncation_side = "right"
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(names), id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)},
        problem_type="single_label_classification",
    )
    clipped = [t[: CHARS_PER_TOKEN_BOUND * args.max_tokens] for t in texts]
    ids = tokenizer(clipped, truncation=True, max_length=args.max_tokens)["input_ids"]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)], "weight_decay": args.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=args.lr)
    steps_per_epoch = math.ceil(len(ids) / args.batch_size)
    total = max(1, args.epochs * steps_per_epoch)
    warmup = int(args.warmup * total)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (step + 1) / max(1, warmup) if step < warmup else max(0.0, (total - step) / max(1, total - warmup))
    )
    order_rng = torch.Generator().manual_seed(args.seed)
    labels = torch.tensor(y, dtype=torch.long)
    model.train()
    for epoch in range(args.epochs):
        started, losses = time.perf_counter(), []
        permutation = torch.randperm(len(ids), generator=order_rng)
        for begin in range(0, len(ids), args.batch_size):
            rows = permutation[begin : begin + args.batch_size]
            width = max(len(ids[r]) for r in rows.tolist())
            input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for j, r in enumerate(rows.tolist()):
                input_ids[j, : len(ids[r])] = torch.tensor(ids[r], dtype=torch.long)
                mask[j, : len(ids[r])] = 1
            loss = model(input_ids=input_ids, attention_mask=mask, labels=labels[rows]).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            losses.append(loss.item())
        print(f"  epoch {epoch + 1}/{args.epochs}: loss {statistics.mean(losses):.4f} ({time.perf_counter() - started:.0f} s)", flush=True)
    model.eval()
    return model, tokenizer


def positive_scores(folder: str, texts: list[str], positive: int, args) -> list[float]:
    """P(positive) for each text, from the saved model loaded the way the stage loads it."""
    classifier = SequenceClassifier(folder, max_tokens=args.max_tokens, batch_size=args.batch_size, device="cpu")
    scores = classifier.score(texts)
    return [float(v) if ok else 0.0 for v, ok in zip(scores.values[:, positive], scores.scored, strict=True)]


def auc_summary(scores: list[float], y_binary: list[int]) -> dict:
    low, high = bootstrap_auc(scores, y_binary)
    return {"auc": roc_auc(scores, y_binary), "ci95": [low, high], "documents": len(y_binary), "positives": sum(y_binary)}


def cross_validate(base: str, texts: list[str], y: list[int], names: list[str], positive: int, args, subset: set[str] | None) -> dict:
    folds = stratified_folds(y, args.cv, args.seed)
    out_of_fold = [0.0] * len(texts)
    per_fold = []
    started = time.perf_counter()
    for k, held_out in enumerate(folds):
        held = set(held_out)
        train_rows = [i for i in range(len(texts)) if i not in held]
        print(f"fold {k + 1}/{args.cv}: training on {len(train_rows)}, scoring {len(held_out)}", flush=True)
        model, tokenizer = fine_tune(base, [texts[i] for i in train_rows], [y[i] for i in train_rows], names, args)
        with tempfile.TemporaryDirectory() as folder:
            model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            del model
            scores = positive_scores(folder, [texts[i] for i in held_out], positive, args)
        for i, s in zip(held_out, scores, strict=True):
            out_of_fold[i] = s
        fold_y = [int(y[i] == positive) for i in held_out]
        per_fold.append(roc_auc(scores, fold_y) if 0 < sum(fold_y) < len(fold_y) else None)
        print(f"fold {k + 1}: AUC {per_fold[-1]:.3f}", flush=True)
    y_binary = [int(v == positive) for v in y]
    valid = [a for a in per_fold if a is not None]
    report = {
        "folds": args.cv,
        "per_fold_auc": per_fold,
        "mean_fold_auc": statistics.mean(valid),
        "sd_fold_auc": statistics.stdev(valid) if len(valid) > 1 else 0.0,
        "pooled": auc_summary(out_of_fold, y_binary),
        "seconds": time.perf_counter() - started,
    }
    if subset:
        rows = [i for i, t in enumerate(texts) if t in subset]
        report["subset"] = {"file": str(args.subset), **auc_summary([out_of_fold[i] for i in rows], [y_binary[i] for i in rows])}
    return report


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, default=DEFAULT_TRAIN, help="labelled JSONL (text, label)")
    parser.add_argument("--base", default="builtin:all-MiniLM-L6-v2", help="encoder to fine-tune (model reference)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the trained model")
    parser.add_argument("--label-names", default=None, help="rename labels, e.g. 0=low,1=high")
    parser.add_argument("--positive", default=None, help="label name the AUC ranks by (default: the last label)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--warmup", type=float, default=0.1, help="share of steps with a rising learning rate")
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cv", type=int, default=0, help="K-fold cross-validated ROC-AUC first (0: none)")
    parser.add_argument("--subset", type=Path, default=None, help="JSONL whose documents (by text) get their own CV AUC")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-save", action="store_true", help="only cross-validate")
    args = parser.parse_args(argv)
    if args.cv == 1 or args.cv < 0:
        parser.error("--cv must be 0 or at least 2")

    import torch
    import transformers

    if args.threads:
        torch.set_num_threads(args.threads)
    base = resolve_model(args.base, expect="dir", allow_hub=True)
    texts, raw = load_labelled(args.train)
    order, names = label_space(raw, parse_label_names(args.label_names))
    y = [order.index(v) for v in raw]
    positive_name = args.positive if args.positive is not None else names[-1]
    if positive_name not in names:
        parser.error(f"--positive {positive_name!r} is not a label name ({names})")
    positive = names.index(positive_name)
    print(f"{args.train}: {len(texts)} rows, labels {dict(zip(names, (y.count(i) for i in range(len(names))), strict=True))}; base {base}", flush=True)

    report: dict = {
        "base": args.base, "base_resolved": base, "train": str(args.train), "train_sha256": _sha256(args.train),
        "rows": len(texts), "labels": names, "positive": positive_name,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version()},
        "threads": torch.get_num_threads(),
    }
    if args.cv:
        subset = set(load_labelled(args.subset)[0]) if args.subset else None
        report["cv"] = cross_validate(base, texts, y, names, positive, args, subset)
        cv = report["cv"]
        print(f"CV AUC pooled {cv['pooled']['auc']:.3f} [{cv['pooled']['ci95'][0]:.3f}, {cv['pooled']['ci95'][1]:.3f}], "
              f"folds {cv['mean_fold_auc']:.3f} ± {cv['sd_fold_auc']:.3f}", flush=True)
        if "subset" in cv:
            print(f"CV AUC on {args.subset.name}: {cv['subset']['auc']:.3f} [{cv['subset']['ci95'][0]:.3f}, {cv['subset']['ci95'][1]:.3f}]", flush=True)
    if not args.no_save:
        print(f"training on all {len(texts)} rows", flush=True)
        started = time.perf_counter()
        model, tokenizer = fine_tune(base, texts, y, names, args)
        report["train_seconds"] = time.perf_counter() - started
        args.out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(args.out)
        tokenizer.save_pretrained(args.out)
        (args.out / "training.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"saved to {args.out}", flush=True)
    return report


if __name__ == "__main__":
    main()
