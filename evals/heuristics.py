"""What the heuristic filters (``gopher_quality``, ``gopher_repetition``, ``c4_quality``) remove on the
sample corpus against its planted defects, and how fast they run.

``defect_report(ground_truth_rows)``: the three stages, each with its default parameters, run on the
gold main texts of the sample corpus (``curate.sample``'s ``ground_truth.jsonl``; rows without a
main text — non-HTML responses — are skipped), each on the same original texts (not chained, so a
rule's figure does not depend on the stages before it). With ``use_language`` (default) the
ground-truth ``language`` is given as the ``lang`` column, as a language-ID stage upstream would;
without it every document is treated as English (``gopher_quality``'s ``default_language``).
Documents are grouped by each planted defect (``defects``; a document with two defects is in both
groups) and ``clean`` (none planted). For every rule the report counts the documents of each group
it *would* reject on its own (the stage's ``would_reject_<rule>`` counter, not only first reasons),
and per stage the documents it rejects; ``clean_by_category`` splits the clean documents'
rejections by page category (a clean code page rejected by ``c4_curly_brace`` is C4 doing what it
was designed to, not a planted defect being found).

``bench_heuristics(texts, repeats)``: documents per second of each stage's ``process`` on Arrow
batches (scoring, columns, split and histograms included) in this one process (one core), the best
of ``repeats`` runs, and of the three run one after the other on the same batches.

``python -m evals.heuristics [--pages 2000] [--seed 1] [--repeats 3]`` generates a sample
corpus in a temporary directory and prints both.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow as pa

from curate.filters.c4 import LINE_RULES, c4_clean
from curate.filters.gopher import is_unspaced
from curate.sample import DEFECTS
from curate.stages.base import Stage
from curate.stages.c4_quality import C4Quality
from curate.stages.gopher_quality import GopherQuality
from curate.stages.gopher_repetition import GopherRepetition

STAGES: tuple[type[Stage], ...] = (GopherQuality, GopherRepetition, C4Quality)
CLEAN = "clean"


def _batch(ids: list[str], texts: list[str], langs: list[str | None] | None) -> pa.Table:
    columns = {"id": ids, "url": [None] * len(ids), "text": texts}
    if langs is not None:
        columns["lang"] = langs
    return pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})


def _fired(stage: Stage, batch: pa.Table) -> list[list[tuple[str, str]]]:
    scored = stage.score(batch)
    return scored[1]


def defect_report(ground_truth_rows: list[dict], use_language: bool = True, stages: tuple[type[Stage], ...] = STAGES) -> dict:
    """Per rule and per stage: documents rejected in each planted-defect group and among clean ones."""
    rows = [r for r in ground_truth_rows if r.get("main_text") is not None]
    groups = [list(r.get("defects") or []) or [CLEAN] for r in rows]
    sizes = Counter(g for doc_groups in groups for g in doc_groups)
    order = [d for d in DEFECTS if sizes[d]] + [d for d in sorted(sizes) if d not in DEFECTS and d != CLEAN] + [CLEAN]
    batch = _batch([r["id"] for r in rows], [r["main_text"] for r in rows],
                   [r.get("language") for r in rows] if use_language else None)
    rules: dict[str, dict] = {}
    stage_rejects: dict[str, dict[str, int]] = {}
    any_rejects: Counter = Counter()
    rejected_any = [False] * len(rows)
    clean_by_category: dict[str, dict] = defaultdict(lambda: {"documents": 0, "rejected_by": Counter()})
    for row, doc_groups in zip(rows, groups, strict=True):
        if doc_groups == [CLEAN]:
            clean_by_category[row.get("category") or "?"]["documents"] += 1
    for cls in stages:
        stage = cls()
        hits = _fired(stage, batch)
        out = stage.process(batch)
        per_rule = {name[len("would_reject_"):]: Counter() for name in out.counters if name.startswith("would_reject_")}
        rejected = Counter()
        for i, (doc_hits, doc_groups) in enumerate(zip(hits, groups, strict=True)):
            for reason, _ in doc_hits:
                per_rule.setdefault(reason, Counter()).update(doc_groups)
                if doc_groups == [CLEAN]:
                    clean_by_category[rows[i].get("category") or "?"]["rejected_by"][reason] += 1
            if doc_hits:
                rejected.update(doc_groups)
                rejected_any[i] = True
        # The counters the stage itself reports must agree with the per-document tally.
        for rule, counts in per_rule.items():
            expected = out.counters.get(f"would_reject_{rule}", 0.0)
            actual = sum(1 for doc_hits in hits if any(r == rule for r, _ in doc_hits))
            assert expected == actual, (rule, expected, actual)
            rules[rule] = {"stage": cls.name, "rejects": {g: counts.get(g, 0) for g in order}}
        stage_rejects[cls.name] = {g: rejected.get(g, 0) for g in order}
        assert out.rejected.num_rows == sum(1 for h in hits if h)
    line_edits = _c4_line_edits(rows, groups, order, use_language) if C4Quality in stages else {}
    for flag, doc_groups in zip(rejected_any, groups, strict=True):
        if flag:
            any_rejects.update(doc_groups)
    return {
        "documents": len(rows),
        "use_language": use_language,
        "groups": {g: sizes[g] for g in order},
        "rules": rules,
        "stages": stage_rejects,
        "any_stage": {g: any_rejects.get(g, 0) for g in order},
        "c4_line_edits": line_edits,
        "clean_by_category": {
            k: {"documents": v["documents"], "rejected_by": dict(v["rejected_by"].most_common())}
            for k, v in sorted(clean_by_category.items())
        },
    }


def _c4_line_edits(rows: list[dict], groups: list[list[str]], order: list[str], use_language: bool) -> dict[str, dict[str, int]]:
    """Per C4 line rule: documents of each group that lose at least one line to it (default params)."""
    stage = C4Quality()
    rules, unspaced = stage.rules(), stage.params.unspaced_languages
    edits = {rule: Counter() for rule in LINE_RULES}
    for row, doc_groups in zip(rows, groups, strict=True):
        result = c4_clean(row["main_text"], rules, use_language and is_unspaced(row.get("language"), unspaced))
        for rule, count in result.removed_by.items():
            if count:
                edits[rule].update(doc_groups)
    return {f"c4_line_{rule}": {g: edits[rule].get(g, 0) for g in order} for rule in LINE_RULES}


def format_defect_report(report: dict) -> str:
    """The report as a Markdown table: rules (and stages) down, defect groups across, "k/n" cells."""
    groups = report["groups"]
    header = "| rule | " + " | ".join(f"{g} (n={n})" for g, n in groups.items()) + " |"
    lines = [header, "|---|" + "---:|" * len(groups)]

    def row(label: str, counts: dict) -> str:
        return f"| {label} | " + " | ".join(str(counts.get(g, 0)) if counts.get(g, 0) else "·" for g in groups) + " |"

    for stage in report["stages"]:
        for rule, entry in report["rules"].items():
            if entry["stage"] == stage:
                lines.append(row(rule, entry["rejects"]))
        lines.append(row(f"**{stage} (rejected)**", report["stages"][stage]))
    lines.append(row("**any of the three**", report["any_stage"]))
    for rule, counts in report.get("c4_line_edits", {}).items():
        lines.append(row(f"{rule} (documents edited, not rejected)", counts))
    lines += ["", "Clean documents rejected, by category:", "", "| category | clean docs | rejected by (would-reject counts) |", "|---|---:|---|"]
    for category, entry in report["clean_by_category"].items():
        by = ", ".join(f"{r}={n}" for r, n in entry["rejected_by"].items()) or "—"
        lines.append(f"| {category} | {entry['documents']} | {by} |")
    return "\n".join(lines)


def bench_heuristics(texts: list[str], repeats: int = 3, batch_size: int = 1000, langs: list[str | None] | None = None,
                     stages: tuple[type[Stage], ...] = STAGES) -> dict:
    """Documents/s of each stage (and of the three in sequence) on one core; best of ``repeats``."""
    texts = [t for t in texts if t is not None]
    batches = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start:start + batch_size]
        chunk_langs = langs[start:start + batch_size] if langs is not None else None
        batches.append(_batch([str(start + i) for i in range(len(chunk))], chunk, chunk_langs))
    chars = sum(map(len, texts))
    result = {"documents": len(texts), "mean_chars": chars / max(len(texts), 1), "repeats": repeats,
              "batch_size": batch_size, "stages": {}}
    best_total = 0.0
    for cls in stages:
        stage = cls()
        stage.ensure_setup()
        best = float("inf")
        for _ in range(max(1, repeats)):
            started = time.perf_counter()
            for batch in batches:
                stage.process(batch)
            best = min(best, time.perf_counter() - started)
        best_total += best
        result["stages"][cls.name] = _rate(len(texts), chars, best)
    result["all_three"] = _rate(len(texts), chars, best_total)
    return result


def _rate(documents: int, chars: int, seconds: float) -> dict:
    return {"seconds": round(seconds, 4), "docs_per_s": round(documents / seconds, 1) if seconds else None,
            "mchars_per_s": round(chars / seconds / 1e6, 2) if seconds else None}


def main(argv: list[str] | None = None) -> None:
    from curate.sample import generate_sample_corpus, read_ground_truth

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--corpus", type=Path, help="an existing sample corpus directory (default: generate one)")
    parser.add_argument("--no-language", action="store_true", help="do not give the ground-truth language as lang")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.corpus
        if root is None:
            root = Path(tmp)
            generate_sample_corpus(root, seed=args.seed, pages=args.pages, pages_per_warc=1000)
        rows = read_ground_truth(root)
    report = defect_report(rows, use_language=not args.no_language)
    print(f"{report['documents']} documents with a main text (lang column: {report['use_language']})\n")
    print(format_defect_report(report))
    texts = [r["main_text"] for r in rows if r.get("main_text") is not None]
    langs = [r.get("language") for r in rows if r.get("main_text") is not None]
    bench = bench_heuristics(texts, args.repeats, langs=None if args.no_language else langs)
    print(f"\nSpeed, one core, {bench['documents']} documents of {bench['mean_chars']:.0f} characters on average "
          f"(best of {bench['repeats']}):\n")
    print("| stage | docs/s | M chars/s |\n|---|---:|---:|")
    for name, r in {**bench["stages"], "all three, in sequence": bench["all_three"]}.items():
        print(f"| {name} | {r['docs_per_s']:.0f} | {r['mchars_per_s']:.2f} |")


if __name__ == "__main__":
    main()
