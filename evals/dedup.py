"""Accuracy of the global fuzzy dedup stage on real text with planted edits at known Jaccard.

Method
------
1. Base texts: real article pages from ``../shared/data/extraction`` (all of scrapinghub-aeb and
   an evenly spread subset of trafilatura-eval), extracted with curate's own ``HtmlExtractor``
   exactly as the pipeline runs it. Pages with fewer than ``min_words`` words are dropped, and so
   is any page whose exact shingle Jaccard with an already chosen page is ``max_base_jaccard`` or
   more (the sets contain a few templated sites), so that distinct bases are not near duplicates
   of each other and every planted pair is the only relation the stage should find.
2. Planted copies: for each base and each target level, one copy is edited from the base with a
   seeded (``numpy.random.default_rng``) mix of adjacent word swaps, insertions (a word of the
   same page or of another page) and deletions, until the *exact* Jaccard of its shingle set
   with the base's (``set(word_shingles(text))``, the shingles the stage hashes) first falls to
   the target or below. The edits are applied in steps sized from the observed drop per edit;
   a step of several edits that would reach the target is undone and retried smaller, so the
   target is crossed by a single edit and the copy lands within one edit of it. The
   ground truth is the measured Jaccard, never the target. Headline levels sit well on either
   side of the threshold (positives 0.97 / 0.92 / 0.87, negatives 0.70 / 0.55 / 0.35); a band
   next to it (0.82 / 0.78) is scored separately, as information only: a 128-permutation
   estimate of a pair that close to 0.8 falls on either side of it by chance, so what happens
   there says more about how the stage verifies candidates than about its accuracy.
3. The real stage, end to end on Ray: bases and copies (ids ``p017-c0`` for the base, ``-c1``...
   for its copies) are written in a seeded random order (so a family is spread across batches
   and blocks) to one JSONL file, and ``run_pipeline`` runs a pipeline whose only stage is
   ``fuzzy_dedup``. Kept documents come from ``OUT/data`` and are their own survivor; rejected
   ones come from ``OUT/rejects`` with ``detail = survivor=<id>``. Two documents are *merged*
   when they share a survivor (that is, the same connected component).
4. Scores. Pair level, over the (copy, its base) pairs of the headline levels: predicted
   duplicate = merged, true duplicate = measured Jaccard ≥ threshold; precision, recall, F1 and
   the TP / FP / FN / TN counts, with the merge rate per level. Component level, over *every*
   pair of documents that ended up in one component (copies of a base are linked to each other
   too, and components are transitive): the fraction whose exact Jaccard is ≥ threshold, the
   lowest such Jaccard, and how many merged pairs join different bases. Each missed headline pair
   is then replayed through the stage's own ``link_keys`` / ``verify`` / ``verify_exact`` to say
   whether banding (no common LSH bucket) or verification lost it.

``python -m evals.dedup [--shared DIR] [--trafilatura-eval-pages N] [--seed S]`` prints the
table; ``evaluate()`` returns the same figures for the tests.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from curate.dedup.minhash import word_shingles
from evals.shared import SHARED

DEFAULT_SHARED = SHARED
POSITIVE_LEVELS = (0.97, 0.92, 0.87)
NEGATIVE_LEVELS = (0.70, 0.55, 0.35)
BAND_LEVELS = (0.82, 0.78)
EDIT_KINDS = ("swap", "insert", "delete")


# --- base texts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BasePage:
    source: str  # "<set>/<page id>", for the report only
    text: str


def extract_texts(htmls: list[bytes], batch_rows: int = 64) -> list[str]:
    """Main text of each page through the HtmlExtractor stage ("" for a rejected page)."""
    import pyarrow as pa

    from curate.schema import DOCUMENT_SCHEMA, conform
    from curate.stages.extract_html import HtmlExtractor

    stage = HtmlExtractor()
    stage.ensure_setup()
    ids = [str(i) for i in range(len(htmls))]
    batch = conform(pa.table({"id": ids, "html": pa.array(htmls, type=pa.binary())}), DOCUMENT_SCHEMA)
    texts: dict[str, str] = {}
    for start in range(0, batch.num_rows, batch_rows):
        kept = stage.process(batch.slice(start, batch_rows)).kept
        texts.update(zip(kept.column("id").to_pylist(), kept.column("text").to_pylist(), strict=True))
    return [texts.get(i) or "" for i in ids]


def load_pages(shared: Path, trafilatura_eval_pages: int | None) -> list[BasePage]:
    """Extracted text of every page read ("" where the extractor rejected it), in a fixed order."""
    from evals.extraction import AEB, TRAFILATURA_EVAL, load_aeb, load_trafilatura_eval, subset

    named: list[tuple[str, bytes]] = []
    aeb_root, snippets_root = shared / AEB, shared / TRAFILATURA_EVAL
    if aeb_root.is_dir():
        named += [(f"scrapinghub-aeb/{p.id}", p.html) for p in load_aeb(aeb_root)]
    if snippets_root.is_dir() and trafilatura_eval_pages != 0:
        pages = subset(load_trafilatura_eval(snippets_root), trafilatura_eval_pages)
        named += [(f"trafilatura-eval/{p.key}", p.html) for p in pages]
    texts = extract_texts([html for _, html in named])
    return [BasePage(name, text) for (name, _), text in zip(named, texts, strict=True)]


def shingle_set(text: str) -> set[bytes]:
    return set(word_shingles(text))


def jaccard(a: set, b: set) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def distinct_bases(pages: list[BasePage], max_base_jaccard: float) -> tuple[list[BasePage], int, float]:
    """Pages in order, skipping any whose Jaccard with a chosen one is ≥ ``max_base_jaccard``.

    Returns (chosen pages, pages skipped, highest Jaccard between two chosen pages). All pairs
    are compared, but only pairs sharing a shingle cost a set intersection (inverted index).
    """
    chosen: list[BasePage] = []
    chosen_sets: list[set[bytes]] = []
    owners: dict[bytes, list[int]] = defaultdict(list)
    skipped, highest = 0, 0.0
    for page in pages:
        shingles = shingle_set(page.text)
        sharing = {j for s in shingles for j in owners.get(s, ())}
        similarities = [jaccard(shingles, chosen_sets[j]) for j in sharing]
        worst = max(similarities, default=0.0)
        if worst >= max_base_jaccard:
            skipped += 1
            continue
        highest = max(highest, worst)
        for s in shingles:
            owners[s].append(len(chosen))
        chosen.append(page)
        chosen_sets.append(shingles)
    return chosen, skipped, highest


# --- planted copies --------------------------------------------------------------------------


@dataclass
class PlantedCopy:
    text: str
    jaccard: float  # measured, exact, against the base's shingle set
    edits: dict[str, int]


def _edit(words: list[str], rng: np.random.Generator, base_words: list[str], other_words: list[str]) -> str:
    """One random edit of ``words`` in place; returns its kind."""
    kind = EDIT_KINDS[int(rng.integers(len(EDIT_KINDS)))]
    if kind == "delete" and len(words) <= 10:
        kind = "insert"  # keep the copy long enough to have shingles to compare
    if kind == "swap":
        i = int(rng.integers(len(words) - 1))
        words[i], words[i + 1] = words[i + 1], words[i]
    elif kind == "insert":
        donor = base_words if rng.random() < 0.5 else other_words
        words.insert(int(rng.integers(len(words) + 1)), donor[int(rng.integers(len(donor)))])
    else:
        del words[int(rng.integers(len(words)))]
    return kind


def plant_copy(base_text: str, target: float, rng: np.random.Generator, other_words: list[str]) -> PlantedCopy:
    """Edit ``base_text`` until its exact shingle Jaccard with the base first drops to ``target``.

    Each edit is, with equal chance, a swap of two adjacent words, an insertion of a word (half
    the time from this page, else from ``other_words``) or a deletion. Edits go in steps of about
    half the number the drop per edit seen so far says are still needed, and Jaccard is
    re-measured after every step. A step of several edits that reaches the target is undone and
    retried at half the size, so the target is only ever crossed by a single edit: the copy is
    within one edit of its target (on a 150-word page one swap moves Jaccard by ~0.08).
    """
    base_words = base_text.split()
    base_shingles = shingle_set(base_text)
    words = list(base_words)
    edits = dict.fromkeys(EDIT_KINDS, 0)
    current = 1.0
    # First guess: a swap changes ~6 shingles and leaves ~6 new ones, an insertion or deletion
    # ~4-5 each way, so an edit moves about ten shingles of the union out of the intersection.
    drop_per_edit = 10.0 / max(1, len(base_shingles))
    accepted_edits = 0
    step_cap = len(base_words) + 1
    while current > target:
        steps = min(step_cap, max(1, int(0.5 * (current - target) / max(drop_per_edit, 1e-9))))
        before, edits_before = list(words), dict(edits)
        for _ in range(steps):
            edits[_edit(words, rng, base_words, other_words)] += 1
        measured = jaccard(shingle_set(" ".join(words)), base_shingles)
        if measured <= target and steps > 1:
            words, edits, step_cap = before, edits_before, steps // 2
            continue
        current = measured
        accepted_edits += steps
        drop_per_edit = max(drop_per_edit * 0.25, (1.0 - current) / accepted_edits)
    return PlantedCopy(" ".join(words), current, edits)


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    base: int  # index of the base page it derives from
    level: float | None  # target Jaccard of a copy; None for the base itself
    jaccard: float  # measured exact Jaccard with its base (1.0 for the base)


def build_documents(bases: list[BasePage], levels: tuple[float, ...], seed: int) -> tuple[list[Document], dict[str, int]]:
    """Each base (``p017-c0``) and one copy per level (``p017-c1``...), edited with one seeded stream.

    Returns the documents and the number of edits of each kind planted in all copies together.
    """
    rng = np.random.default_rng(seed)
    page_words = [b.text.split() for b in bases]
    docs: list[Document] = []
    edit_totals = dict.fromkeys(EDIT_KINDS, 0)
    for index, base in enumerate(bases):
        # Insertions "from other pages" draw from the next page's words: real, and unrelated.
        other_words = page_words[(index + 1) % len(bases)] if len(bases) > 1 else page_words[index]
        docs.append(Document(f"p{index:03d}-c0", base.text, index, None, 1.0))
        for copy_number, level in enumerate(levels, start=1):
            copy = plant_copy(base.text, level, rng, other_words)
            docs.append(Document(f"p{index:03d}-c{copy_number}", copy.text, index, level, copy.jaccard))
            for kind, n in copy.edits.items():
                edit_totals[kind] += n
    return docs, edit_totals


# --- the stage on Ray ------------------------------------------------------------------------


def run_fuzzy_dedup(docs: list[Document], workdir: Path, seed: int, params=None) -> tuple[dict[str, str], dict]:
    """Run the pipeline (fuzzy_dedup only) over ``docs``; return (survivor of every id, run card)."""
    import pyarrow.parquet as pq

    from curate.config import OutputConfig, PipelineConfig, RayConfig, ReadConfig, ResolvedStage
    from curate.run import run_pipeline
    from curate.stages.fuzzy_dedup import FuzzyDedup, FuzzyDedupParams

    corpus, out = workdir / "corpus", workdir / "out"
    corpus.mkdir(parents=True, exist_ok=True)
    order = np.random.default_rng(seed).permutation(len(docs))
    lines = [json.dumps({"id": docs[i].id, "text": docs[i].text}) + "\n" for i in order]
    (corpus / "docs.jsonl").write_text("".join(lines), encoding="utf-8")
    total_mib = sum(len(line.encode("utf-8")) for line in lines) / 2**20
    config = PipelineConfig(
        name="fuzzy-dedup-accuracy", description="", seed=0, read=ReadConfig(batch_size=32),
        stages=(ResolvedStage(FuzzyDedup, params if params is not None else FuzzyDedupParams()),),
        # About eight output shards: several shuffle partitions, without a task per 50 KiB.
        output=OutputConfig(shard_input_mib=max(0.05, total_mib / 8)), ray=RayConfig(batch_size=16),
    )
    result = run_pipeline(config, str(corpus), out, cards_dir=None, run_id="fuzzy-dedup-accuracy")
    survivor = {i: i for i in pq.read_table(out / "data", columns=["id"]).column("id").to_pylist()}
    rejects = pq.read_table(out / "rejects", columns=["id", "reason", "detail"]).to_pylist()
    for row in rejects:
        if row["reason"] != FuzzyDedup.reason or not (row["detail"] or "").startswith("survivor="):
            raise RuntimeError(f"unexpected reject from a fuzzy_dedup-only run: {row}")
        survivor[row["id"]] = row["detail"].removeprefix("survivor=")
    missing = {d.id for d in docs} - survivor.keys()
    if missing:
        raise RuntimeError(f"{len(missing)} documents are neither kept nor rejected, e.g. {sorted(missing)[:3]}")
    return survivor, result.card


# --- scores ----------------------------------------------------------------------------------


@dataclass
class LevelResult:
    level: float
    pairs: int
    merged: int
    agreeing: int  # merged exactly when the measured Jaccard is ≥ the threshold
    jaccard_min: float
    jaccard_mean: float
    jaccard_max: float

    @property
    def merge_rate(self) -> float:
        return self.merged / self.pairs if self.pairs else 0.0

    @property
    def agreement(self) -> float:
        return self.agreeing / self.pairs if self.pairs else 0.0


@dataclass
class Report:
    threshold: float  # exact Jaccard that makes a pair truly a duplicate
    stage_threshold: float  # the threshold the stage itself was given
    pages_read: int
    pages_short: int
    pages_near_duplicate: int
    bases: int
    documents: int
    highest_base_jaccard: float
    tp: int
    fp: int
    fn: int
    tn: int
    levels: dict[float, LevelResult]
    band: dict[float, LevelResult]
    merged_pairs: int  # every pair of documents in one component, headline and band alike
    merged_pairs_at_threshold: int
    merged_pairs_below_half: int
    merged_pairs_across_bases: int
    lowest_merged_jaccard: float
    components: int
    largest_component: int
    # Why each missed headline pair's direct edge is absent, replayed with the stage's own methods
    # (a pair can still be merged through a third document; these are the pairs that were not):
    fn_not_candidates: int  # no LSH bucket in common (banding)
    fn_rejected_by_verification: int  # a candidate, but verify / verify_exact said no
    edits: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def component_precision(self) -> float:
        return self.merged_pairs_at_threshold / self.merged_pairs if self.merged_pairs else 0.0

    def table(self) -> str:
        lines = [
            f"pages: {self.pages_read} read, {self.pages_short} under the word floor, {self.pages_near_duplicate} near"
            f" duplicates of another page; {self.bases} bases (highest Jaccard between two: {self.highest_base_jaccard:.3f}),"
            f" {self.documents} documents",
            "edits planted: " + ", ".join(f"{k} {v}" for k, v in self.edits.items()),
            "",
            f"{'target':>7} {'side':>9} {'pairs':>6} {'merged':>7} {'merge rate':>11} {'agree':>7}"
            f" {'exact Jaccard min / mean / max':>32}",
        ]
        for side, results in (("headline", self.levels), ("band", self.band)):
            for level, r in results.items():
                kind = "band" if side == "band" else ("dup" if level >= self.threshold else "not dup")
                lines.append(
                    f"{level:>7.2f} {kind:>9} {r.pairs:>6} {r.merged:>7} {r.merge_rate:>11.3f} {r.agreement:>7.3f}"
                    f" {r.jaccard_min:>10.3f} / {r.jaccard_mean:.3f} / {r.jaccard_max:.3f}"
                )
        lines += [
            f"(agree: merged exactly when the copy's measured Jaccard with its base is ≥ {self.threshold})",
            "",
            f"(copy, base) pairs at the headline levels, threshold {self.threshold}:"
            f" precision {self.precision:.4f}  recall {self.recall:.4f}  F1 {self.f1:.4f}"
            f"  (TP {self.tp}, FP {self.fp}, FN {self.fn}, TN {self.tn})",
            f"missed pairs: {self.fn_not_candidates} share no LSH bucket, {self.fn_rejected_by_verification} are candidates"
            f" that the stage's verification rejected (stage threshold {self.stage_threshold})",
            f"all merged pairs: {self.merged_pairs} in {self.components} components (largest {self.largest_component});"
            f" exact Jaccard ≥ {self.threshold}: {self.component_precision:.4f}; lowest {self.lowest_merged_jaccard:.3f};"
            f" below 0.5: {self.merged_pairs_below_half}; across bases: {self.merged_pairs_across_bases}",
            "seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items()),
        ]
        return "\n".join(lines)


def _level_result(level: float, pairs: list[tuple[Document, bool]], threshold: float) -> LevelResult:
    js = [d.jaccard for d, _ in pairs] or [float("nan")]
    agreeing = sum(merged == (d.jaccard >= threshold) for d, merged in pairs)
    return LevelResult(level, len(pairs), sum(m for _, m in pairs), agreeing, min(js), float(np.mean(js)), max(js))


def explain_misses(pairs: list[tuple[Document, Document]], params) -> tuple[int, int]:
    """Replay the stage's own decision on each missed pair's direct edge, in process.

    Returns (pairs that share no LSH bucket, pairs that do but that ``verify`` — or, where it
    leaves the pair undecided, ``verify_exact`` — rejects). The stage's methods are used as they
    are, so this follows whatever verification the stage does.
    """
    import pyarrow as pa

    from curate.stages.fuzzy_dedup import FuzzyDedup

    if not pairs:
        return 0, 0
    stage = FuzzyDedup(params)
    stage.ensure_setup()
    left = pa.table({"id": [a.id for a, _ in pairs], "text": [a.text for a, _ in pairs]})
    right = pa.table({"id": [b.id for _, b in pairs], "text": [b.text for _, b in pairs]})
    left_keys, right_keys = stage.link_keys(left), stage.link_keys(right)
    left_payload, right_payload = stage.payload(left), stage.payload(right)
    not_candidates = rejected = 0
    undecided: list[int] = []
    for i in range(len(pairs)):
        if not set(left_keys[i]) & set(right_keys[i]):
            not_candidates += 1
            continue
        decision = stage.verify(left_payload[i], right_payload[i])
        if decision is None:
            undecided.append(i)
        elif not decision:
            rejected += 1
    if undecided:
        left_exact, right_exact = stage.exact_payload(left), stage.exact_payload(right)
        rejected += sum(not stage.verify_exact(left_exact[i], right_exact[i]) for i in undecided)
    return not_candidates, rejected


def score(docs: list[Document], survivor: dict[str, str], params, threshold: float, headline: tuple[float, ...], band: tuple[float, ...]) -> dict:
    """Pair and component scores; ``threshold`` makes a pair truly a duplicate, ``params`` is the stage's."""
    base_of = {d.base: d for d in docs if d.level is None}
    by_level: dict[float, list[tuple[Document, bool]]] = defaultdict(list)
    for d in docs:
        if d.level is not None:
            by_level[d.level].append((d, survivor[d.id] == survivor[base_of[d.base].id]))
    counts = dict(tp=0, fp=0, fn=0, tn=0)
    missed: list[tuple[Document, Document]] = []
    for level in headline:
        for d, merged in by_level[level]:
            truly = d.jaccard >= threshold
            counts[("t" if merged == truly else "f") + ("p" if merged else "n")] += 1
            if truly and not merged:
                missed.append((d, base_of[d.base]))
    fn_not_candidates, fn_rejected_by_verification = explain_misses(missed, params)

    members: dict[str, list[Document]] = defaultdict(list)
    for d in docs:
        members[survivor[d.id]].append(d)
    components = [m for m in members.values() if len(m) > 1]
    shingles: dict[str, set[bytes]] = {}
    merged_js: list[float] = []
    across = 0
    for component in components:
        for d in component:
            shingles.setdefault(d.id, shingle_set(d.text))
        for a, b in itertools.combinations(component, 2):
            merged_js.append(jaccard(shingles[a.id], shingles[b.id]))
            across += a.base != b.base
    return dict(
        **counts,
        fn_not_candidates=fn_not_candidates,
        fn_rejected_by_verification=fn_rejected_by_verification,
        levels={level: _level_result(level, by_level[level], threshold) for level in headline},
        band={level: _level_result(level, by_level[level], threshold) for level in band},
        merged_pairs=len(merged_js),
        merged_pairs_at_threshold=sum(j >= threshold for j in merged_js),
        merged_pairs_below_half=sum(j < 0.5 for j in merged_js),
        merged_pairs_across_bases=across,
        lowest_merged_jaccard=min(merged_js, default=float("nan")),
        components=len(components),
        largest_component=max((len(m) for m in components), default=0),
    )


def evaluate(
    shared: Path = DEFAULT_SHARED,
    *,
    trafilatura_eval_pages: int | None = 60,
    min_words: int = 150,
    max_base_jaccard: float = 0.3,
    positives: tuple[float, ...] = POSITIVE_LEVELS,
    negatives: tuple[float, ...] = NEGATIVE_LEVELS,
    band: tuple[float, ...] = BAND_LEVELS,
    seed: int = 0,
    params=None,
    truth_threshold: float | None = None,
    workdir: Path | None = None,
) -> Report:
    """The whole evaluation; Ray is started by ``run_pipeline`` unless it is already initialised.

    ``params`` (``FuzzyDedupParams``, default: the stage's defaults) configure the stage under
    test; a pair is truly a duplicate when its exact Jaccard reaches ``truth_threshold``
    (default: the stage's own threshold). Setting the two apart shows the scores react.
    """
    from curate.stages.fuzzy_dedup import FuzzyDedupParams

    params = params if params is not None else FuzzyDedupParams()
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    pages = load_pages(Path(shared), trafilatura_eval_pages)
    long_enough = [p for p in pages if len(p.text.split()) >= min_words]
    bases, near_duplicates, highest = distinct_bases(long_enough, max_base_jaccard)
    seconds["extract"] = time.perf_counter() - started
    if len(bases) < 2:
        raise RuntimeError(f"only {len(bases)} usable pages under {shared}: nothing to evaluate")

    started = time.perf_counter()
    headline = tuple(positives) + tuple(negatives)
    docs, edits = build_documents(bases, headline + tuple(band), seed)
    seconds["plant"] = time.perf_counter() - started

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fuzzy-dedup-eval-") as tmp:
        survivor, _ = run_fuzzy_dedup(docs, Path(workdir) if workdir else Path(tmp), seed, params)
    seconds["ray run"] = time.perf_counter() - started

    started = time.perf_counter()
    truth = params.threshold if truth_threshold is None else truth_threshold
    scores = score(docs, survivor, params, truth, headline, tuple(band))
    seconds["score"] = time.perf_counter() - started
    return Report(
        threshold=truth,
        stage_threshold=params.threshold,
        pages_read=len(pages),
        pages_short=len(pages) - len(long_enough),
        pages_near_duplicate=near_duplicates,
        bases=len(bases),
        documents=len(docs),
        highest_base_jaccard=highest,
        edits=edits,
        seconds=seconds,
        **scores,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--trafilatura-eval-pages", type=int, default=None, help="subset of trafilatura-eval (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from curate.run import ray_environment

    # Before Ray is imported anywhere: loopback only, no usage report, one auth mode.
    os.environ.update(ray_environment(embedded=True))
    report = evaluate(args.shared, trafilatura_eval_pages=args.trafilatura_eval_pages, seed=args.seed)
    print(report.table())


if __name__ == "__main__":
    main()
