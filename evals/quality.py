"""How well quality scores agree with human labels: ROC-AUC with a bootstrap interval.

``python -m evals.quality [--data ../shared/data/quality/dclm-human]`` scores the DCLM human
annotations (``{"text", "label"}``, 1 = high quality) with the language-ID and heuristic filter
stages of ``pipelines/llama3.yaml`` (built from the YAML, run in-process on the labelled texts)
and prints the AUC of each one-sided score and of the combined heuristics.

* A score's direction comes from its rule, never from the labels: "higher is worse" for
  repetition fractions, symbol ratios, removed lines, dirty words and KL divergence; "higher is
  better" for stop words, alphabetic fractions and sentences. Two-sided rules (word count, mean
  word length) count only in the combined score.
* The combined heuristic score of a document is the number of rules it passes across all the
  heuristic stages: every rule, not only the first that fires (each stage is run on the document
  alone, and its ``would_reject_<rule>`` counters say which rules would reject it).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from curate.metrics import bootstrap_auc, roc_auc, stratified_folds  # noqa: F401 - re-exported for the recipes


def load_labelled(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


HEURISTIC_STAGES = ("gopher_repetition", "gopher_quality", "c4_quality", "dirty_words", "token_distribution")
# Score column prefix -> +1 when a higher value means higher quality, -1 when lower quality.
DIRECTIONS = {
    "rep_": -1, "gopher_hash_word_ratio": -1, "gopher_ellipsis_word_ratio": -1, "gopher_bullet_lines_frac": -1,
    "gopher_ellipsis_lines_frac": -1, "gopher_alpha_words_frac": 1, "gopher_alpha_chars_frac": 1, "gopher_stop_words": 1,
    "c4_lines_removed": -1, "c4_no_terminal_punct_frac": -1, "c4_short_lines": -1, "c4_javascript_lines": -1,
    "c4_policy_lines": -1, "c4_sentences": 1, "dirty_word": -1, "token_kl": -1,
}


def labelled_union(folder: Path) -> tuple[list[dict], list[set[str]]]:
    """The distinct labelled documents of both files (first seen wins), and which files each is in."""
    rows: list[dict] = []
    membership: list[set[str]] = []
    seen: dict[str, int] = {}
    for name in ("majority", "agreement"):
        for row in load_labelled(folder / f"{name}_data.jsonl"):
            key = " ".join(row["text"].split())
            if key in seen:
                if int(rows[seen[key]]["label"]) != int(row["label"]):
                    raise ValueError(f"{folder}: a document is labelled {rows[seen[key]]['label']} and {row['label']}")
                membership[seen[key]].add(name)
                continue
            seen[key] = len(rows)
            rows.append(row)
            membership.append({name})
    return rows, membership


def direction(column: str) -> int | None:
    for prefix, sign in DIRECTIONS.items():
        if column.startswith(prefix):
            return sign
    return None


def score_labelled(rows: list[dict], pipeline_path: str | Path) -> dict:
    """AUC of every one-sided heuristic score and of the combined score on labelled ``rows``."""
    import pyarrow as pa

    from curate.config import load_pipeline
    from curate.schema import DOCUMENT_SCHEMA, conform

    config = load_pipeline(pipeline_path)
    n = len(rows)
    table = conform(pa.table({"id": [f"doc{i}" for i in range(n)], "source": ["labelled"] * n, "text": [r["text"] for r in rows]}), DOCUMENT_SCHEMA)
    labels = [int(r["label"]) for r in rows]
    stages = {}
    for resolved in config.stages:
        if resolved.cls.name in ("lang_id", *HEURISTIC_STAGES):
            stage = resolved.build()
            stage.ensure_setup()
            stages[resolved.cls.name] = stage
    if "lang_id" in stages:
        labelled = stages.pop("lang_id").process(table)
        assert labelled.kept.num_rows == n, "score_labelled needs a lang_id that rejects nothing"
        table = labelled.kept
    values: dict[str, list] = {}
    passed = [0] * n
    for name, stage in stages.items():
        columns = list(stage.score_histograms(stage.params))
        for i in range(n):
            out = stage.process(table.slice(i, 1))
            passed[i] -= sum(1 for key, v in out.counters.items() if key.startswith("would_reject_") and v)
        scored = _scored(stage, table)
        for column in columns:
            if column in scored.column_names:
                values[column] = scored.column(column).to_pylist()
    report = {"documents": n, "positives": sum(labels), "scores": {}}
    for column, column_values in values.items():
        sign = direction(column)
        pairs = [(v, y) for v, y in zip(column_values, labels, strict=True) if v is not None]
        if sign is None or len({y for _, y in pairs}) < 2:
            continue
        oriented = [sign * float(v) for v, _ in pairs]
        ys = [y for _, y in pairs]
        report["scores"][column] = {"auc": roc_auc(oriented, ys), "ci": bootstrap_auc(oriented, ys), "documents": len(ys)}
    report["scores"]["combined (rules passed)"] = {"auc": roc_auc(passed, labels), "ci": bootstrap_auc(passed, labels), "documents": n}
    return report


def _scored(stage, table):
    """``table`` with the stage's score columns for every row, rejected ones included: the stage
    runs with a ``split`` that keeps every row (every stage splits through ``Stage.split``)."""
    from curate.schema import empty_rejects

    stage.split = lambda batch, keep, reasons, details=None: (batch, empty_rejects())
    try:
        return stage.process(table).kept
    finally:
        del stage.split


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/quality/dclm-human")
    parser.add_argument("--pipeline", default="pipelines/llama3.yaml")
    args = parser.parse_args(argv)
    for name in ("agreement_data.jsonl", "majority_data.jsonl"):
        rows = load_labelled(Path(args.data) / name)
        report = score_labelled(rows, args.pipeline)
        print(f"{name}: {len(rows)} documents, {sum(r['label'] for r in rows)} labelled high quality")
        for column, r in report["scores"].items():
            print(f"  {column:<34} AUC {r['auc']:.3f}  [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
