"""`make bench`: the pipeline on a larger generated corpus, with baselines measured in the same run.

Writes a JSON file and prints a table:
  * end-to-end documents/s of `curate run` on embedded Ray (median of --repeats runs), peak RSS of
    the whole process tree (driver + raylet + workers), and per-stage documents per busy second;
  * single-process extraction on the same pages: plain `trafilatura.extract` (the baseline) and
    curate's extract_html stage (the default, and the whole-page variants that show what each idea
    adds), pages per CPU-second (median of --repeats rounds), the ratio to the baseline, peak RSS,
    the split of paths and, on the pages with gold, the accuracy of each — on the synthetic pages
    and, when ../shared is beside the checkout, on its real pages (scrapinghub-aeb,
    trafilatura-eval, the HTML records of its WARC files);
  * PII scrubbing, 1 process, on texts extract_html keeps from the synthetic pages (and from the real
    pages when present): scrubadub's default Scrubber (the baseline; `pip install -e '.[bench]'`,
    else a plain e-mail + IPv4 regex stands in), curate's pii_scrub stage over Arrow batches of 64
    and find_pii alone, MB/s and documents/s (median of --repeats passes); and per-type precision/
    recall of both on presidio-research's labelled samples when ../shared holds them;
  * language ID and the heuristic filters, 1 process, on the same extracted texts: the pipeline's lang_id
    stage over Arrow batches of its ray.batch_size, LanguageIdentifier.predict and the raw fastText
    predict on the same lines (the baseline), py3langid (a peer, when installed); then the YAML's
    gopher_repetition, gopher_quality, c4_quality, dirty_words and token_distribution on lang_id's output,
    each alone and chained (each fed the previous one's kept rows; documents in/out per stage), and
    datatrove's GopherRepetitionFilter, GopherQualityFilter and C4QualityFilter (when installed:
    `pip install -e '.[bench]'`) alone and chained against curate's three; MB/s and documents/s
    (median of --repeats passes);
  * the model-based classifiers, 1 process and 1 thread, on the same texts: the quality filter
    (quality_static), the fastText quality student it replaced and the domain and topic students,
    alone and chained, the raw fastText predict (the baseline), the MiniLM teacher (embed_classifier)
    and a MiniLM sequence classifier (hf_classifier's model code) on --transformer-docs texts;
    documents/s, the memory each model adds, and the students / transformer ratios;
  * MinHash signatures/s, 1 process, on the kept texts of the first run: datasketch per document
    and bulk, rensa (when installed: `pip install -e '.[bench]'`) and curate's BatchMinHasher;
  * a dedup-only run (the pipeline's *_dedup stages) over pre-extracted JSONL at two corpus sizes:
    documents/s, peak RSS of the process tree and of each Ray worker process.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from evals.shared import SHARED


class PeakRss:
    """Samples the RSS of this process and all its descendants (Ray's raylet and workers included).

    ``peak`` is the largest summed RSS seen; ``processes`` holds each process's own peak, so the
    biggest single worker can be told apart from many small ones. RSS counts the shared pages a
    process has touched too (libraries, Ray's object store mapped from /dev/shm), so each process
    also gets the peak of RSS minus those shared pages: its private memory.
    """

    def __init__(self, interval_s: float = 0.2, include_self: bool = True):
        self.interval_s = interval_s
        # False: only the processes this one starts (the sampler's own CPU is not the run's).
        self.include_self = include_self
        self.peak = 0
        self.processes: dict[int, dict] = {}
        # CPU seconds (user + system) last seen per process, and (time, sum over the tree) samples.
        self.cpu: dict[int, float] = {}
        self.timeline: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        me = psutil.Process()
        total = 0
        for proc in ([me] if self.include_self else []) + me.children(recursive=True):
            try:
                with proc.oneshot():
                    mem = proc.memory_info()
                    times = proc.cpu_times()
                    title = " ".join(proc.cmdline()).strip() or proc.name()
            except psutil.Error:
                continue
            total += mem.rss
            self.cpu[proc.pid] = times.user + times.system
            self._note(proc.pid, title, mem.rss, mem.rss - mem.shared)
        self.timeline.append((time.time(), sum(self.cpu.values())))
        return total

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds the tree used between two wall-clock times (linear between samples)."""
        def at(t: float) -> float:
            points = self.timeline
            if not points:
                return 0.0
            if t <= points[0][0]:
                return points[0][1]
            for (t0, c0), (t1, c1) in zip(points, points[1:], strict=False):
                if t0 <= t <= t1:
                    return c0 + (c1 - c0) * ((t - t0) / (t1 - t0) if t1 > t0 else 0.0)
            return points[-1][1]

        return max(0.0, at(end) - at(start))

    def _note(self, pid: int, title: str, rss: int, private: int) -> None:
        seen = self.processes.setdefault(
            pid, {"pid": pid, "peak_rss": 0, "peak_private": 0, "ray_worker": False, "task_at_peak": None, "last_task": None, "tasks": [], "command": title[:160]}
        )
        if not title.startswith("ray::"):
            seen["command"] = title[:160]  # a child first seen between fork and exec carries its parent's
        # Ray titles a worker after the task it runs (ray::MapBatches(EmitLinks), ray::Components.add);
        # before its first task the command line is Python running default_worker.py.
        if title.startswith("ray::") or "default_worker.py" in title or "setup_worker.py" in title:
            seen["ray_worker"] = True
        if title.startswith("ray::") and title != "ray::IDLE":
            seen["last_task"] = title[:160]
            if seen["last_task"] not in seen["tasks"] and len(seen["tasks"]) < 12:
                seen["tasks"].append(seen["last_task"])
        if rss > seen["peak_rss"]:
            # RSS stays up after a task ends (an idle worker keeps its heap), so a peak seen while
            # idle belongs to the last task that ran there.
            seen["peak_rss"], seen["task_at_peak"] = rss, seen["last_task"]
        seen["peak_private"] = max(seen["peak_private"], private)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval_s)

    def worker_peaks(self) -> list[dict]:
        """Ray worker processes by their own peak RSS, largest first (MiB)."""
        workers = [r for r in self.processes.values() if r["ray_worker"]]
        return [
            {
                "pid": r["pid"],
                "peak_rss_mib": round(r["peak_rss"] / 2**20, 1),
                "peak_private_mib": round(r["peak_private"] / 2**20, 1),
                "task_at_peak": r["task_at_peak"],
                "tasks_seen": r["tasks"],
            }
            for r in sorted(workers, key=lambda r: r["peak_rss"], reverse=True)
        ]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _html_pages(corpus_dir: Path, limit: int | None = None) -> list[bytes]:
    from curate.readers import list_inputs, read_file

    pages: list[bytes] = []
    for f in list_inputs(str(corpus_dir)):
        for out in read_file(f, batch_size=512):
            pages.extend(h for h in out.kept.column("html").to_pylist() if h is not None)
            if limit and len(pages) >= limit:
                return pages[:limit]
    return pages


def _real_pages(folder: Path) -> list[bytes]:
    import gzip

    if not folder.is_dir():
        return []
    return [gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes() for p in sorted(folder.glob("*.htm*"))]


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux: writing 5 to clear_refs); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _proc_status_mib(field: str = "VmHWM") -> float | None:
    """This process's peak (VmHWM) or current (VmRSS) resident memory, MiB; None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


# extract_html as it was before issue 15 (whole page, lxml's XPaths), and each idea added alone,
# so the table shows what each contributes; the last is the default.
EXTRACTION_VARIANTS = {
    "extract_html, whole page, lxml XPaths (before)": {"strategy": "full", "compiled_xpaths": False, "compare_below_chars": None},
    "extract_html, whole page, compiled XPaths": {"strategy": "full", "compare_below_chars": None},
    "extract_html (default: main container first)": {},
}
BASELINE = "trafilatura.extract (baseline)"


def extraction_page_sets(shared: Path) -> dict[str, dict]:
    """The real pages in ../shared: {name: {"pages": [...], "score": fn(extractor) -> dict | None}}."""
    from evals.extraction import load_aeb, load_trafilatura_eval, score_aeb, score_trafilatura_eval

    sets: dict[str, dict] = {}
    root = shared / "data" / "extraction"
    if (root / "scrapinghub-aeb").is_dir():
        aeb = load_aeb(root / "scrapinghub-aeb")
        sets["real pages (scrapinghub-aeb, human gold text)"] = {
            "pages": [p.html for p in aeb], "score": lambda fn, aeb=aeb: score_aeb(fn, aeb).as_dict()}
    if (root / "trafilatura-eval").is_dir():
        snippets = load_trafilatura_eval(root / "trafilatura-eval")
        sets["real pages (trafilatura-eval, human snippets)"] = {
            "pages": [p.html for p in snippets], "score": lambda fn, snippets=snippets: score_trafilatura_eval(fn, snippets).as_dict()}
    if (shared / "data" / "warc").is_dir():
        records = _html_pages(shared / "data" / "warc")
        if records:
            sets["real WARC records (../shared/data/warc: Common Crawl, wget, ClueWeb)"] = {"pages": records, "score": None}
    return sets


def bench_extraction(pages: list[bytes], repeats: int, score=None) -> dict:
    """Plain ``trafilatura.extract`` and extract_html's variants on the same pages, one process.

    Pages per CPU-second of this process; the ratio to the baseline; the process's peak RSS during
    one pass; for the stage, which path produced each document (its counters); with ``score``, the
    accuracy of each on the set's gold.

    Within a round every extractor runs on each chunk of 32 pages in turn, so the machine's drift
    touches all of them alike. On this shared 2-core host one whole pass of plain trafilatura
    over the same 495 pages took 11.0 to 14.3 CPU-seconds, run after run: the CPU time of the same
    work moves by seconds. So each chunk's time is its median over the ``repeats`` rounds, and an
    extractor's time is the sum of those medians (a round disturbed in one chunk no longer moves
    the whole figure); the median of the rounds' totals is reported beside it.
    """
    import pyarrow as pa
    import trafilatura

    from curate.schema import DOCUMENT_SCHEMA, conform
    from curate.stages.extract_html import HtmlExtractor, HtmlExtractorParams
    from evals.extraction import stage_extractor

    batch = conform(pa.table({"id": [str(i) for i in range(len(pages))], "html": pa.array(pages, type=pa.binary())}), DOCUMENT_SCHEMA)
    stages = {name: HtmlExtractor(HtmlExtractorParams(**params)) for name, params in EXTRACTION_VARIANTS.items()}
    chunks = [(start, min(32, len(pages) - start)) for start in range(0, len(pages), 32)]
    counters: dict[str, dict] = {name: {} for name in stages}

    def baseline(start: int, size: int) -> None:
        for html in pages[start:start + size]:
            trafilatura.extract(html)

    def stage_chunk(name):
        def run(start: int, size: int) -> None:
            totals = counters[name]
            for key, value in stages[name].process(batch.slice(start, size)).counters.items():
                totals[key] = totals.get(key, 0) + value
        return run

    passes = {BASELINE: baseline, **{name: stage_chunk(name) for name in stages}}

    def whole_pass(run) -> None:
        for start, size in chunks:
            run(start, size)

    for run in passes.values():  # warm imports and caches outside the timing
        whole_pass(run)
    seconds: dict[str, list[float]] = {name: [] for name in passes}  # each round's total
    by_chunk: dict[str, list[list[float]]] = {name: [[] for _ in chunks] for name in passes}
    for _ in range(repeats):
        for totals in counters.values():
            totals.clear()  # the counters of one round: one pass over the pages
        spent = dict.fromkeys(passes, 0.0)
        for index, (start, size) in enumerate(chunks):
            for name, run in passes.items():
                started = time.process_time()
                run(start, size)
                elapsed = time.process_time() - started
                spent[name] += elapsed
                by_chunk[name][index].append(elapsed)
        for name, value in spent.items():
            seconds[name].append(value)
    counted = {name: dict(totals) for name, totals in counters.items()}  # the last round's
    results = {}
    for name, run in passes.items():
        median = sum(statistics.median(times) for times in by_chunk[name])
        rounds = statistics.median(seconds[name])
        results[name] = {"pages": len(pages), "cpu_seconds_median": round(median, 3),
                         "documents_per_second": round(len(pages) / median, 1), "runs": [round(t, 3) for t in seconds[name]],
                         "cpu_seconds_median_of_round_totals": round(rounds, 3),
                         "documents_per_second_median_of_round_totals": round(len(pages) / rounds, 1)}
        if _reset_peak_rss():
            before = _proc_status_mib("VmRSS")
            whole_pass(run)
            # the pages themselves are in memory already: what one pass adds on top is its own
            peak = _proc_status_mib("VmHWM")
            results[name]["peak_rss_mib"] = peak
            results[name]["peak_rss_added_mib"] = round(peak - before, 1)
    base = results[BASELINE]["documents_per_second"]
    for name in stages:
        results[name]["speedup_vs_baseline"] = round(results[name]["documents_per_second"] / base, 2)
        results[name]["speedup_vs_baseline_median_of_round_totals"] = round(
            results[name]["documents_per_second_median_of_round_totals"] / results[BASELINE]["documents_per_second_median_of_round_totals"], 2)
        c = counted[name]
        results[name]["paths"] = {path: int(c.get(f"documents_{key}", 0)) for path, key in (
            ("container", "container"), ("trafilatura (whole page)", "extracted"), ("fallback (balanced retry)", "fallback"),
            ("passthrough", "passthrough"))}
        results[name]["paths"]["rejected"] = len(pages) - sum(results[name]["paths"].values())
        results[name]["whole_page_comparisons"] = {"ran": int(c.get("whole_page_comparisons", 0)),
                                                   "skipped": int(c.get("whole_page_comparisons_skipped", 0))}
    if score is not None:
        from evals.extraction import baseline_extract

        results[BASELINE]["accuracy"] = score(baseline_extract)
        for name, params in EXTRACTION_VARIANTS.items():
            results[name]["accuracy"] = score(stage_extractor(HtmlExtractorParams(**params)))
    return results


def bench_extraction_section(corpus_dir: Path | None, synthetic_pages: int, shared: Path, repeats: int) -> dict:
    section = {}
    if corpus_dir is not None:
        section["synthetic sample pages"] = bench_extraction(_html_pages(corpus_dir, synthetic_pages), repeats)
    for name, page_set in extraction_page_sets(shared).items():
        section[name] = bench_extraction(page_set["pages"], repeats, page_set["score"])
    return section


def _urls(corpus_dir: Path) -> list[str]:
    from curate.readers import list_inputs, read_file

    urls: list[str] = []
    for f in list_inputs(str(corpus_dir)):
        for out in read_file(f, batch_size=512):
            urls.extend(u for u in out.kept.column("url").to_pylist() if u)
    return urls


def bench_url_filter(corpus_dir: Path | None, shared: Path, repeats: int, batch_rows: int = 1024) -> dict:
    """url_filter's URLs per CPU-second in one process, on the sample corpus's URLs, the real
    URLs of ../shared's WARC files, and URLs on UT1-listed adult domains (every one dropped);
    its first setup (building the hash array from the 4.56M-domain list) and a cached setup."""
    import pyarrow as pa

    from curate.filters.url_blocklist import _cache_dir, find_source
    from curate.schema import DOCUMENT_SCHEMA, conform
    from curate.stages.url_filter import UrlFilter, UrlFilterParams

    sets = {}
    if corpus_dir is not None:
        sets["sample corpus URLs"] = _urls(corpus_dir)
    if (shared / "data" / "warc").is_dir():
        sets["real WARC record URLs (../shared)"] = _urls(shared / "data" / "warc")
    listed = find_source("adult", None).read("domains")
    rng = random.Random(3)
    sets["URLs on listed adult domains"] = [f"https://www.{d}/page/{i}" for i, d in enumerate(rng.sample(listed, 20000))]
    source = find_source("adult", None)
    cached = _cache_dir().glob(f"adult-{source.fingerprint()[:32]}.npz")
    for path in cached:
        path.unlink()  # time the first build too
    started = time.process_time()
    UrlFilter(UrlFilterParams()).ensure_setup()
    first_setup = time.process_time() - started
    started = time.process_time()
    stage = UrlFilter(UrlFilterParams())
    stage.ensure_setup()
    cached_setup = time.process_time() - started
    out = {"setup_cpu_seconds": {"first (builds the cache)": round(first_setup, 2), "cached": round(cached_setup, 3)},
           "domains_listed_adult": len(stage._lists[0]), "sets": {}}
    for name, urls in sets.items():
        # at least 20k URLs per timing: the real set is small, so it is cycled
        reps = max(1, 20000 // max(1, len(urls)))
        pool = (urls * reps)[: max(len(urls), 20000)]
        batches = [conform(pa.table({"id": [str(i) for i in range(len(chunk))], "url": chunk}), DOCUMENT_SCHEMA)
                   for chunk in (pool[i:i + batch_rows] for i in range(0, len(pool), batch_rows))]
        timings, removed = [], 0
        for _ in range(repeats):
            started = time.process_time()
            removed = sum(stage.process(b).rejected.num_rows for b in batches)
            timings.append(time.process_time() - started)
        out["sets"][name] = {"urls": len(urls), "timed_urls": len(pool), "removed_share": round(removed / len(pool), 4),
                             "urls_per_cpu_second": round(len(pool) / statistics.median(timings))}
    return out


def _print_url_filter(section: dict) -> None:
    print(f"url_filter, 1 process (URLs per CPU-second, median); setup {section['setup_cpu_seconds']}, "
          f"{section['domains_listed_adult']} adult domains")
    for name, r in section["sets"].items():
        print(f"  {name + ' (' + str(r['urls']) + ')':<70} {r['urls_per_cpu_second']:>10}   removed {r['removed_share']:.1%}")


def _print_extraction(section: dict) -> None:
    print(f"\n{'extraction, 1 process (pages per CPU-second: sum of chunk medians)':<70} {'pages/s':>8} {'x base':>7} "
          f"{'(rounds)':>8} {'+peak MiB':>9} {'F1':>6}")
    for pages_name, by_extractor in section.items():
        print(f"  {pages_name}")
        for name, r in by_extractor.items():
            f1 = r.get("accuracy", {}).get("f1")
            print(f"    {name:<66} {r['documents_per_second']:>8} {r.get('speedup_vs_baseline', 1.0):>7} "
                  f"{r.get('speedup_vs_baseline_median_of_round_totals', 1.0):>8} "
                  f"{r.get('peak_rss_added_mib', '-'):>9} {f1 if f1 is not None else '-':>6}")
        default = by_extractor.get("extract_html (default: main container first)")
        if default:
            print(f"    paths of the default: {default['paths']}; whole-page comparisons ran/skipped: {default.get('whole_page_comparisons')}")


def _median_documents_per_second(fn, documents: int, repeats: int) -> dict:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"documents": documents, "documents_per_second": round(documents / statistics.median(times), 1)}


def bench_minhash(texts: list[str], repeats: int) -> dict:
    """Signatures/s at 128 permutations on word 5-gram shingles, every implementation on the same texts.

    datasketch gets curate's shingle hash (so its signatures are bit-identical to curate's); rensa
    gets the same shingles as bytes but hashes them its own way. Building the shingles in Python
    is inside each datasketch/rensa timing, as it is inside curate's.
    """
    from datasketch import MinHash

    from curate.dedup.minhash import BatchMinHasher, shingle_hash, word_shingles

    hasher = BatchMinHasher()
    num_perm, seed = hasher.num_perm, hasher.seed

    def per_document():
        for text in texts:
            hasher.datasketch_minhash(text)

    def bulk():
        MinHash.bulk([word_shingles(t) for t in texts], num_perm=num_perm, seed=seed, hashfunc=shingle_hash)

    candidates = [
        ("datasketch MinHash per document (baseline)", per_document),
        ("datasketch MinHash.bulk", bulk),
    ]
    notes = ["datasketch runs with curate's shingle_hash: its signatures are bit-identical to curate's"]
    try:
        import rensa
    except ImportError:
        rensa = None
    rensa_info: dict = {"status": "rensa not installed"}
    if rensa is not None:
        from importlib.metadata import version

        def rensa_per_document():
            for text in texts:
                m = rensa.RMinHash(num_perm, seed)
                m.update(word_shingles(text))
                m.digest()

        def rensa_bulk():
            # rensa's batch entry point for bytes tokens: one call, a digest matrix back, no
            # Python object per document.
            rensa.RMinHash.digest_matrix_from_token_byte_sets([word_shingles(t) for t in texts], num_perm, seed).to_rows()

        def rensa_cminhash_bulk():
            rensa.CMinHash.digests_from_token_sets([word_shingles(t) for t in texts], num_perm, seed)

        candidates += [
            ("rensa RMinHash per document", rensa_per_document),
            ("rensa RMinHash.digest_matrix_from_token_byte_sets", rensa_bulk),
            ("rensa CMinHash.digests_from_token_sets", rensa_cminhash_bulk),
        ]
        probe = next((t for t in texts if word_shingles(t)), "")
        ours = hasher.signatures([probe])[0].tolist()
        theirs = rensa.RMinHash.digest_matrix_from_token_byte_sets([word_shingles(probe)], num_perm, seed).to_rows()[0]
        rensa_info = {
            "status": "installed",
            "version": version("rensa"),
            "bit_identical_to_datasketch": ours == list(theirs),
            "hashing": "rensa hashes each token with its own scheme (RMinHash: its own permutations; CMinHash: "
            "circulant permutations): its signatures are not datasketch's, so only throughput compares",
        }
        notes.append(rensa_info["hashing"])
    candidates.append(("curate BatchMinHasher", lambda: hasher.signatures(texts)))

    results = {name: _median_documents_per_second(fn, len(texts), repeats) for name, fn in candidates}
    # Shared by every datasketch and rensa timing above: what is left is the signature work.
    shingling = _median_documents_per_second(lambda: [word_shingles(t) for t in texts], len(texts), repeats)

    ours = results["curate BatchMinHasher"]["documents_per_second"]
    ratios = {f"curate / {name}": round(ours / r["documents_per_second"], 2) for name, r in results.items() if name != "curate BatchMinHasher"}
    return {
        "num_perm": num_perm,
        "shingles": f"word {hasher.ngram}-grams (curate.dedup.minhash.word_shingles), lower-cased",
        "implementations": results,
        "ratios": ratios,
        "shingling_alone (word_shingles, inside every datasketch/rensa timing)": shingling,
        "rensa": rensa_info,
        "notes": notes,
    }


# PII: documents per Arrow batch handed to the stage, as the pipeline's ray.batch_size does.
PII_BATCH_DOCUMENTS = 64
# scrubadub's filth types -> curate's span types (scored ones are those presidio-research labels too).
SCRUBADUB_TYPES = {
    "email": "EMAIL",
    "phone": "PHONE",
    "credit_card": "CARD",
    "social_security_number": "SSN",
    "credential": "SECRET",  # username/password pairs written out in text
    "url": "URL",  # no curate counterpart: curate scrubs credentials in URLs (SECRET), not URLs
    "twitter": "TWITTER",  # no curate counterpart
}
# The fallback baseline when scrubadub is not installed: two plain regexes, no validation.
_PLAIN_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_PLAIN_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")


def _plain_regex_clean(text: str) -> str:
    return _PLAIN_IPV4.sub("<IP>", _PLAIN_EMAIL.sub("<EMAIL>", text))


def _page_table(corpus_dir: Path, limit: int):
    """The first ``limit`` HTML documents of the corpus as the reader emits them (DOCUMENT_SCHEMA)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from curate.readers import list_inputs, read_file

    tables, rows = [], 0
    for f in list_inputs(str(corpus_dir)):
        for out in read_file(f, batch_size=512):
            kept = out.kept.filter(pc.is_valid(out.kept.column("html")))
            tables.append(kept)
            rows += kept.num_rows
            if rows >= limit:
                return pa.concat_tables(tables).slice(0, limit)
    return pa.concat_tables(tables) if tables else None


def _extracted_documents(pages) -> list[dict]:
    """``pages`` (a DOCUMENT_SCHEMA table) through curate's extract_html stage, one process: the
    documents it keeps, as {id, url, source, text} — what the pipeline's later stages get."""
    from curate.stages.extract_html import HtmlExtractor

    stage = HtmlExtractor()
    stage.ensure_setup()
    documents = []
    for start in range(0, pages.num_rows, 64):
        documents += stage.process(pages.slice(start, 64)).kept.select(["id", "url", "source", "text"]).to_pylist()
    return [d for d in documents if d["text"]]


def _timed(fn, repeats: int, documents: int, text_bytes: int) -> dict:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return {
        "documents": documents,
        "seconds_median": round(median, 3),
        "mb_per_second": round(text_bytes / 1e6 / median, 2),
        "documents_per_second": round(documents / median, 1),
        "runs": [round(t, 3) for t in times],
    }


def _scrubber():
    """scrubadub's default Scrubber (en_US), or None when scrubadub is not installed."""
    try:
        import scrubadub
    except ImportError:
        return None
    return scrubadub.Scrubber()


def _scrubadub_info(scrubber) -> dict:
    from importlib.metadata import version

    return {
        "status": "installed",
        "version": version("scrubadub"),
        "locale": "en_US (its default: phone numbers parsed for the US)",
        "detectors": sorted(scrubber._detectors),
        "configuration": "scrubadub.Scrubber() as it comes: its default (autoload) detectors for en_US, none of "
        "which needs NLTK/textblob data or the network (the textblob name and skype detectors are not autoloaded)",
    }


def bench_pii(texts: list[str], repeats: int, urls: list[str | None] | None = None) -> dict:
    """PII scrubbing, 1 process, on the same texts: scrubadub's default Scrubber (the baseline) and
    curate's pii_scrub stage over Arrow batches of 64 (Arrow in and out, URL scrubbing and the
    replacement included), plus curate's find_pii alone. MB/s counts the UTF-8 bytes of the input
    texts (URLs not counted) per second; medians of ``repeats`` passes.
    """
    import pyarrow as pa

    from curate.pii.detectors import find_pii
    from curate.stages.pii_scrub import PiiScrub, PiiScrubParams

    if not texts:
        raise ValueError("bench_pii needs at least one text")
    stage = PiiScrub(PiiScrubParams())
    stage.ensure_setup()
    n = len(texts)
    text_bytes = sum(len(t.encode("utf-8")) for t in texts)
    table = pa.table({
        "id": pa.array([str(i) for i in range(n)], pa.string()),
        "url": pa.array(urls if urls is not None else [None] * n, pa.string()),
        "source": pa.array(["bench"] * n, pa.string()),
        "text": pa.array(texts, pa.string()),
    })
    batches = [table.slice(start, PII_BATCH_DOCUMENTS) for start in range(0, n, PII_BATCH_DOCUMENTS)]

    curate_out: list = []
    baseline_out: list[str] = []

    def ours():
        curate_out[:] = [stage.process(batch) for batch in batches]

    def detectors_only():
        for text in texts:
            find_pii(text, stage.options)

    scrubber = _scrubber()
    if scrubber is not None:
        baseline_name = "scrubadub Scrubber().clean (baseline)"
        baseline_info = _scrubadub_info(scrubber)

        def baseline():
            baseline_out[:] = [scrubber.clean(text) for text in texts]
    else:
        baseline_name = "plain regex, e-mail + IPv4 only (fallback baseline: scrubadub not installed)"
        baseline_info = {"status": "scrubadub not installed (pip install -e '.[bench]'): a plain e-mail + IPv4 regex stands in"}

        def baseline():
            baseline_out[:] = [_plain_regex_clean(text) for text in texts]

    ours_name = f"curate pii_scrub (PiiScrub.process, Arrow batches of {PII_BATCH_DOCUMENTS})"
    results = {
        baseline_name: _timed(baseline, repeats, n, text_bytes),
        ours_name: _timed(ours, repeats, n, text_bytes),
        "curate find_pii alone (detectors only, per text)": _timed(detectors_only, repeats, n, text_bytes),
    }

    # What each one replaced on this text, from the last pass (counts only, never the values).
    counters: dict[str, float] = {}
    for out in curate_out:
        for key, value in out.counters.items():
            counters[key] = counters.get(key, 0) + value
    curate_changed = sum(
        text != texts[int(i)] for out in curate_out for i, text in zip(out.kept.column("id").to_pylist(), out.kept.column("text").to_pylist(), strict=True)
    )
    curate_found = {k.removeprefix("pii_"): int(v) for k, v in counters.items() if k.startswith("pii_") and not k.startswith("pii_documents") and v}
    placeholder = re.compile(r"\{\{([A-Z_+]+)\}\}" if scrubber is not None else r"<([A-Z]+)>")
    baseline_found: dict[str, int] = {}
    for text in baseline_out:
        for kind in placeholder.findall(text):
            baseline_found[kind.lower()] = baseline_found.get(kind.lower(), 0) + 1
    found = {
        ours_name: {"documents_changed": curate_changed, "spans_by_type": curate_found},
        baseline_name: {"documents_changed": sum(a != b for a, b in zip(baseline_out, texts, strict=True)), "spans_by_type": baseline_found},
    }
    if scrubber is not None:
        # scrubadub's e-mail detector also takes "name at domain" prose ("the mayor at Brown-Sims"):
        # one untimed pass counts those apart.
        without_at = sum(
            part.type == "email" and "@" not in part.text
            for text in texts for filth in scrubber.iter_filth(text) for part in (getattr(filth, "filths", None) or [filth])
        )
        found[baseline_name]["email_spans_without_at_sign"] = without_at
    ours_mbs = results[ours_name]["mb_per_second"]
    return {
        "documents": n,
        "text_mb": round(text_bytes / 1e6, 2),
        "mean_text_bytes": round(text_bytes / n) if n else 0,
        "implementations": results,
        "ratios": {f"curate pii_scrub / {baseline_name}": round(ours_mbs / results[baseline_name]["mb_per_second"], 2)},
        "found_on_this_text (last pass)": found,
        "baseline": baseline_info,
        "notes": [
            "MB = 10^6 UTF-8 bytes of input text; 1 process; medians of the repeats",
            "curate's timing includes building the output Arrow table, the pii_counts column and scrubbing the url "
            "column (the baseline sees the text only)",
            "scrubadub's placeholders are {{TYPE}}, curate's <TYPE>; span types differ (scrubadub: url, twitter; "
            "curate: IP, IBAN): the spans found are not one-to-one",
        ],
    }


def _scrubadub_spans(scrubber, text: str) -> list[tuple[int, int, str]]:
    """scrubadub's spans in curate's types; a merged filth (overlapping detectors) counts each part."""
    spans = []
    for filth in scrubber.iter_filth(text):
        for part in getattr(filth, "filths", None) or [filth]:
            spans.append((part.beg, part.end, SCRUBADUB_TYPES.get(part.type, part.type.upper())))
    return spans


def bench_pii_accuracy(folder: Path) -> dict:
    """Per-type precision/recall of curate's rule detectors and of scrubadub on presidio-research's
    labelled samples (evals.pii's scoring: overlap of at least half a span)."""
    from curate.pii.detectors import CARD, EMAIL, IBAN, IP, PHONE, SSN, DetectorOptions, find_pii
    from evals.pii import load_samples, score

    files = sorted(Path(folder).glob("*.json")) if Path(folder).is_dir() else []
    if not files:
        return {"status": f"no labelled samples ({folder}/*.json absent)"}
    samples = load_samples(files)
    types = (EMAIL, PHONE, IP, CARD, IBAN, SSN)
    options = DetectorOptions()  # pii_scrub's defaults (no URL, so no region hints)
    detectors = [("curate find_pii", lambda text: find_pii(text, options))]
    scrubber = _scrubber()
    if scrubber is not None:
        detectors.append(("scrubadub (baseline)", lambda text: _scrubadub_spans(scrubber, text)))
    results = {}
    for name, detect in detectors:
        t0 = time.perf_counter()
        r = score(samples, detect, types)
        # Counts and rates only: the misses and false positives quote the samples' text.
        results[name] = {
            "per_type": {
                t: {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()} for t, row in r["per_type"].items()
            },
            "over_redacted_samples": r["over_redacted_samples"],
            "over_redaction_rate": round(r["over_redaction_rate"], 3),
            "over_redacted_char_rate": round(r["over_redacted_char_rate"], 4),
            "seconds": round(time.perf_counter() - t0, 2),
        }
    return {
        "files": [f.name for f in files],
        "samples": len(samples),
        "negatives (no gold span)": sum(1 for s in samples if not s["spans"]),
        "types": list(types),
        "scrubadub_type_map": SCRUBADUB_TYPES if scrubber is not None else "scrubadub not installed",
        "detectors": results,
        "notes": [
            "a gold span is found when a prediction of its type covers at least half of it; a prediction is correct "
            "when it overlaps a gold span of its type by at least half of the shorter one (evals.pii.score)",
            "scrubadub has no IP or IBAN detector: its recall there is 0 by construction",
            "over-redaction: samples without any gold span where anything was flagged (scrubadub's url and twitter "
            "spans count there too)",
            "the samples are synthetic (template sentences filled by Faker), one sentence or paragraph each",
        ],
    }


def section_documents(corpus_dir: Path, pages: int, real: list[bytes], real_name: str) -> dict[str, list[dict]]:
    """The first ``pages`` synthetic pages and ``real`` (when given), each as extract_html keeps them
    ({id, url, source, text}): extracted once, the input of the PII and the language-ID/heuristics
    sections. Texts before PII scrubbing: the pipeline's kept texts (MinHash's input) are already scrubbed."""
    import pyarrow as pa

    from curate.schema import DOCUMENT_SCHEMA, conform

    documents = {"synthetic sample pages": _extracted_documents(_page_table(corpus_dir, pages))}
    if real:
        real_table = conform(pa.table({"id": [str(i) for i in range(len(real))], "html": real}), DOCUMENT_SCHEMA)
        documents[f"real pages ({real_name})"] = _extracted_documents(real_table)
    return documents


def bench_pii_section(documents: dict[str, list[dict]], eval_folder: Path, repeats: int) -> dict:
    """bench_pii on each set of ``documents`` (section_documents) and bench_pii_accuracy on
    ``eval_folder``. Single process, no Ray."""
    throughput = {
        f"{name}, extracted by extract_html": bench_pii([d["text"] for d in docs], repeats, urls=[d["url"] for d in docs])
        for name, docs in documents.items() if docs
    }
    return {"throughput": throughput, "accuracy_presidio_research": bench_pii_accuracy(eval_folder)}


def _print_pii(pii: dict) -> None:
    for texts_name, r in pii["throughput"].items():
        print(f"PII scrubbing, 1 process, {texts_name} ({r['documents']} documents, {r['text_mb']} MB of text):")
        for name, row in r["implementations"].items():
            print(f"{'  ' + name:<84} {row['documents_per_second']:>10}   {row['mb_per_second']} MB/s")
        for name, ratio in r["ratios"].items():
            print(f"{'  ratio of MB/s, ' + name.split(' (')[0] + ' (baseline)':<84} {ratio:>9}x")
    accuracy = pii["accuracy_presidio_research"]
    if "status" in accuracy:
        print(f"PII accuracy: {accuracy['status']}")
        return
    names = list(accuracy["detectors"])
    print(f"PII precision / recall on presidio-research ({accuracy['samples']} samples): " + " | ".join(names))
    for kind in accuracy["types"]:
        cells = []
        for name in names:
            row = accuracy["detectors"][name]["per_type"][kind]
            p, rc = row["precision"], row["recall"]
            cells.append(f"{'-' if p is None else f'{p:.3f}'} / {'-' if rc is None else f'{rc:.3f}'}")
        print(f"  {kind:<8} (gold {accuracy['detectors'][names[0]]['per_type'][kind]['gold']:>4})  " + " | ".join(cells))


# Language ID and heuristic filters: the pipeline's heuristic stages, in the YAML's order, and the
# three of them that datatrove implements too (its GopherRepetitionFilter, GopherQualityFilter and
# C4QualityFilter), in the same order.
HEURISTIC_STAGES = ("gopher_repetition", "gopher_quality", "c4_quality", "dirty_words", "token_distribution")
DATATROVE_COUNTERPARTS = ("gopher_repetition", "gopher_quality", "c4_quality")


def _documents_table(docs: list[dict]):
    import pyarrow as pa

    return pa.table({column: pa.array([d[column] for d in docs], pa.string()) for column in ("id", "url", "source", "text")})


def _pipeline_stage(config, name: str):
    """The YAML's stage ``name`` (its params resolved), built; None when the pipeline has none."""
    for resolved in config.stages:
        if resolved.cls.name == name:
            stage = resolved.build()
            stage.ensure_setup()
            return stage
    return None


def _py3langid():
    """py3langid's default identifier (its model ships in the wheel), or None when not installed."""
    try:
        from py3langid import langid as py3langid
    except ImportError:
        return None
    return py3langid._get_identifier()  # the module-level one classify() uses, loaded once


def bench_langid_stage(docs: list[dict], stage, batch_documents: int, repeats: int) -> dict:
    """lang_id on one core, on the same texts: the stage (LangId.process on Arrow batches: the text
    column out of Arrow, prepare, predict, the lang/lang_score columns, the histogram, the split and
    the counters), LanguageIdentifier.predict alone (prepare + fastText + label mapping), the raw
    fastText predict on lines prepared outside the timing (the baseline: what the model costs), and
    py3langid (langid.py's model, a peer, when installed) on the same prepared lines. MB/s counts
    the UTF-8 bytes of the input texts; medians of ``repeats`` passes.
    """
    from curate.langid import LanguageIdentifier, prepare

    table = _documents_table(docs)
    n = table.num_rows
    texts = [d["text"] for d in docs]
    text_bytes = sum(len(t.encode("utf-8")) for t in texts)
    batches = [table.slice(start, batch_documents) for start in range(0, n, batch_documents)]
    max_chars = stage.params.max_chars
    # The model file the stage loaded, loaded again by path, with nothing of the stage around it.
    t0 = time.perf_counter()
    identifier = LanguageIdentifier(stage.identifier.model_path, max_chars=max_chars)
    load_s = time.perf_counter() - t0
    text_batches = [texts[start:start + batch_documents] for start in range(0, n, batch_documents)]
    line_batches = [[prepare(t, max_chars) for t in chunk] for chunk in text_batches]
    lines = [line for chunk in line_batches for line in chunk]

    stage_out: list = []

    def ours():
        stage_out[:] = [stage.process(batch) for batch in batches]

    def identifier_only():
        for chunk in text_batches:
            identifier.predict(chunk)

    def fasttext_raw():
        for chunk in line_batches:
            identifier.model.predict([line for line in chunk if line], k=1)

    baseline_name = "fastText lid.176 model.predict alone, lines prepared untimed (baseline)"
    ours_name = f"curate lang_id stage (LangId.process, Arrow batches of {batch_documents})"
    results = {
        baseline_name: _timed(fasttext_raw, repeats, n, text_bytes),
        "curate LanguageIdentifier.predict (prepare + fastText + labels)": _timed(identifier_only, repeats, n, text_bytes),
        ours_name: _timed(ours, repeats, n, text_bytes),
    }
    peer = _py3langid()
    peer_info: dict = {"status": "py3langid not installed (pip install -e '.[bench]')"}
    if peer is not None:
        from importlib.metadata import version

        peer_out: list = []

        def py3langid_classify():
            peer_out[:] = [peer.classify(line) if line else ("und", 0.0) for line in lines]

        peer_name = "py3langid classify (peer: langid.py's model, Python + NumPy), same lines"
        results[peer_name] = _timed(py3langid_classify, repeats, n, text_bytes)
        ours_langs = [lang for out in stage_out for lang in out.kept.column("lang").to_pylist()]
        both = [(a, b) for a, (b, _) in zip(ours_langs, peer_out, strict=True) if a != "und" and b != "und"]
        peer_info = {
            "status": "installed",
            "version": version("py3langid"),
            "languages": len(peer.nb_classes),
            "configuration": "py3langid's bundled model as it comes (no norm_probs, every language); its model "
            "ships in the wheel: no download",
            "same_label_as_lid176": round(sum(a == b for a, b in both) / len(both), 4) if both else None,
        }
    counters: dict[str, float] = {}
    for out in stage_out:
        for key, value in out.counters.items():
            counters[key] = counters.get(key, 0) + value
    languages = {k.removeprefix("lang_"): int(v) for k, v in sorted(counters.items(), key=lambda kv: -kv[1]) if k.startswith("lang_")}
    ours_mbs = results[ours_name]["mb_per_second"]
    return {
        "documents": n,
        "text_mb": round(text_bytes / 1e6, 2),
        "mean_text_bytes": round(text_bytes / n) if n else 0,
        "max_chars": max_chars,
        "chars_read_by_the_model": int(counters.get("chars_scanned", 0)),
        "model": stage.identifier.model_path,
        "model_load_seconds": round(load_s, 3),
        "implementations": results,
        "ratios": {f"curate lang_id / {name}": round(ours_mbs / r["mb_per_second"], 2) for name, r in results.items() if name != ours_name},
        "languages (lid.176, last pass)": languages,
        "py3langid": peer_info,
        "notes": [
            "MB = 10^6 UTF-8 bytes of input text; 1 process; medians of the repeats",
            f"the model reads each text's first {max_chars} characters (curate.langid.prepare); every row reads the same lines",
            "the stage's extra cost over the raw predict: Arrow to Python and back, prepare (line breaks, the cap), "
            "label mapping, the lang/lang_score columns, the lang_score histogram, the split and the counters",
        ],
    }


def _concat_kept(outputs):
    import pyarrow as pa

    return pa.concat_tables([out.kept for out in outputs], promote_options="default")


def _chain(stages: list, batches: list) -> list[dict]:
    """``batches`` through ``stages`` in order, each stage getting what the one before kept (one
    fused map per batch, as Ray runs consecutive stages): documents in/out and reasons per stage."""
    counts = [{"documents_in": 0, "documents_out": 0, "rejected_by_reason": {}} for _ in stages]
    for batch in batches:
        for stage, row in zip(stages, counts, strict=True):
            row["documents_in"] += batch.num_rows
            if not batch.num_rows:
                continue
            out = stage.process(batch)
            batch = out.kept
            row["documents_out"] += batch.num_rows
            for reason in out.rejected.column("reason").to_pylist():
                row["rejected_by_reason"][reason] = row["rejected_by_reason"].get(reason, 0) + 1
    return counts


def _datatrove_filters(c4_params) -> list:
    """datatrove's three peers with Table A1 / A.1.1 defaults, C4 set like the YAML's c4_quality
    (its minimum sentences, words per line and curly-brace rule; datatrove always edits lines)."""
    from datatrove.pipeline.filters import C4QualityFilter, GopherQualityFilter, GopherRepetitionFilter

    return [
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(
            min_num_sentences=c4_params.min_sentences if c4_params.min_sentences > 0 else -1,
            min_words_per_line=c4_params.min_words_per_line if c4_params.min_words_per_line > 0 else -1,
            max_word_length=c4_params.max_word_length or -1,
            filter_no_terminal_punct=c4_params.require_terminal_punct,
            filter_lorem_ipsum=c4_params.reject_lorem_ipsum,
            filter_javascript=c4_params.remove_javascript_lines,
            filter_curly_bracket=c4_params.reject_curly_brace,
            filter_policy=c4_params.remove_policy_lines,
            remove_citations=c4_params.remove_citations,
        ),
    ]


def _datatrove_kept(result) -> bool:
    """A datatrove filter's answer: True, False or (False, reason) (a tuple is truthy: unpack it)."""
    return result[0] if isinstance(result, tuple) else bool(result)


def bench_datatrove(docs: list[dict], c4_params, repeats: int) -> dict:
    """datatrove's GopherRepetitionFilter, GopherQualityFilter and C4QualityFilter, ``filter(doc)``
    called in a loop on datatrove Documents (no executor), each alone on every document and the three
    chained per document (a document goes through the next filter only when kept, as datatrove's
    generator pipeline passes it on). Documents are built inside the timing (C4QualityFilter
    rewrites doc.text, so each pass needs fresh ones)."""
    from importlib.metadata import version

    from datatrove.data import Document

    filters = _datatrove_filters(c4_params)
    texts = [(d["id"], d["text"]) for d in docs]
    n = len(texts)
    text_bytes = sum(len(t.encode("utf-8")) for _, t in texts)
    chained: list = []

    def alone(f):
        def run():
            for doc_id, text in texts:
                f.filter(Document(text=text, id=doc_id))
        return run

    def together():
        counts = [{"documents_in": 0, "documents_out": 0, "rejected_by_reason": {}} for _ in filters]
        for doc_id, text in texts:
            doc = Document(text=text, id=doc_id)
            for f, row in zip(filters, counts, strict=True):
                row["documents_in"] += 1
                result = f.filter(doc)
                if not _datatrove_kept(result):
                    reason = result[1] if isinstance(result, tuple) else "rejected"
                    row["rejected_by_reason"][reason] = row["rejected_by_reason"].get(reason, 0) + 1
                    break
                row["documents_out"] += 1
        chained[:] = counts

    together()  # warm-up: spaCy's blank English pipeline loads on the first document
    names = [f"datatrove {type(f).__name__} {version('datatrove')}" for f in filters]
    alone_rows = {name: _timed(alone(f), repeats, n, text_bytes) for name, f in zip(names, filters, strict=True)}
    return {
        "version": version("datatrove"),
        "alone": alone_rows,
        "together": {**_timed(together, repeats, n, text_bytes), "stages": dict(zip(names, chained, strict=True))},
        "configuration": {
            "GopherRepetitionFilter": "defaults (Table A1 thresholds)",
            "GopherQualityFilter": "defaults (A.1.1 thresholds, English stop words)",
            "C4QualityFilter": f"min_num_sentences={filters[2].min_num_sentences}, min_words_per_line={filters[2].min_words_per_line}, "
            f"filter_curly_bracket={filters[2].filter_curly_bracket} (as the YAML's c4_quality); datatrove has no "
            "switch for line edits: kept lines are always joined back into doc.text",
            "language": "English for every document (datatrove's filters take one language at construction); "
            "words and sentences by spaCy's blank English tokenizer + sentencizer (datatrove's English "
            "assignment; no model download)",
        },
    }


def bench_heuristic_filters(table, stages: dict, batch_documents: int, repeats: int) -> dict:
    """The heuristic stages (``stages``: name -> set-up stage, in the pipeline's order) on one core on
    ``table`` (lang_id's output: text plus lang and lang_score), in Arrow batches of ``batch_documents``:
    each stage alone on every document, all of them chained (each fed the previous one's kept rows,
    as the pipeline does), the three datatrove counterparts chained, and datatrove's filters (when
    installed; its C4 filter set like ``stages["c4_quality"]``) on the same texts."""
    n = table.num_rows
    texts = table.column("text").to_pylist()
    text_bytes = sum(len(t.encode("utf-8")) for t in texts)
    batches = [table.slice(start, batch_documents) for start in range(0, n, batch_documents)]
    names = [name for name in stages if name in HEURISTIC_STAGES]  # the YAML's order

    # Untimed warm-up of each stage on every document: token_distribution loads a reference per
    # language and dirty_words a matcher per language on first use; also what each rejects alone.
    rejected_alone = {}
    for name in names:
        rejected_alone[name] = sum(stages[name].process(batch).rejected.num_rows for batch in batches)

    def alone(stage):
        return lambda: [stage.process(batch) for batch in batches]

    chains: dict[str, list] = {}

    def chained(key: str, chain: list[str]):
        def run():
            chains[key] = _chain([stages[name] for name in chain], batches)
        return run

    implementations = {}
    for name in names:
        implementations[f"curate {name} alone (every document)"] = {**_timed(alone(stages[name]), repeats, n, text_bytes), "rejected": rejected_alone[name]}
    all_key = f"curate {len(names)} stages chained (the YAML's order)"
    implementations[all_key] = {**_timed(chained(all_key, names), repeats, n, text_bytes), "order": names}
    implementations[all_key]["stages"] = dict(zip(names, chains[all_key], strict=True))
    # In datatrove's order (the YAML's too), so both chains filter alike.
    counterparts = [name for name in DATATROVE_COUNTERPARTS if name in stages]
    three_key = f"curate {' -> '.join(counterparts)} chained"
    if len(counterparts) > 1:
        implementations[three_key] = {**_timed(chained(three_key, counterparts), repeats, n, text_bytes), "order": counterparts}
        implementations[three_key]["stages"] = dict(zip(counterparts, chains[three_key], strict=True))

    try:
        import datatrove  # noqa: F401
        import spacy  # noqa: F401  (datatrove's English word tokenizer)
    except ImportError as exc:
        datatrove_result: dict = {"status": f"{exc.name} not installed (pip install -e '.[bench]')"}
    else:
        datatrove_result = {"status": "installed"}
    if counterparts != list(DATATROVE_COUNTERPARTS):
        datatrove_result = {"status": f"skipped: the pipeline lacks {sorted(set(DATATROVE_COUNTERPARTS) - set(counterparts))}"}
    if datatrove_result["status"] == "installed":
        docs = [{"id": i, "text": t} for i, t in zip(table.column("id").to_pylist(), texts, strict=True)]
        datatrove_result = {"status": "installed", **bench_datatrove(docs, stages["c4_quality"].params, repeats)}
    ratios = {}
    if datatrove_result["status"] == "installed":
        ours = implementations[three_key]["mb_per_second"]
        ratios["curate / datatrove, the three chained"] = round(ours / datatrove_result["together"]["mb_per_second"], 2)
        for name, row in zip(DATATROVE_COUNTERPARTS, datatrove_result["alone"].values(), strict=True):
            ratios[f"curate / datatrove, {name} alone"] = round(implementations[f"curate {name} alone (every document)"]["mb_per_second"] / row["mb_per_second"], 2)
    langs: dict[str, int] = {}
    for lang in table.column("lang").to_pylist():
        langs[lang] = langs.get(lang, 0) + 1
    return {
        "documents": n,
        "text_mb": round(text_bytes / 1e6, 2),
        "mean_text_bytes": round(text_bytes / n) if n else 0,
        "lang (from lang_id, outside the timing)": dict(sorted(langs.items(), key=lambda kv: -kv[1])),
        "implementations": implementations,
        "datatrove": datatrove_result,
        "ratios": ratios,
    }


def bench_lang_heuristics_section(documents: dict[str, list[dict]], pipeline: str, repeats: int) -> dict:
    """Language ID and the heuristic filters, 1 process, no Ray, on each set of ``documents``
    (section_documents: extract_html's output, the PII section's input), with the stages and params of
    ``pipeline`` (its lang_id, gopher_repetition, gopher_quality, c4_quality, dirty_words,
    token_distribution) and its ray.batch_size as the Arrow batch size."""
    from curate.config import load_pipeline
    from curate.stages.lang_id import LangId, LangIdParams

    config = load_pipeline(pipeline)
    batch_documents = config.ray.batch_size
    lang_id = _pipeline_stage(config, "lang_id")
    if lang_id is None:
        lang_id = LangId(LangIdParams())
        lang_id.ensure_setup()
    stages = {name: _pipeline_stage(config, name) for name in dict.fromkeys(r.cls.name for r in config.stages) if name in HEURISTIC_STAGES}
    langid_rows, heuristics_rows = {}, {}
    for name, docs in documents.items():
        if not docs:
            continue
        key = f"{name}, extracted by extract_html"
        langid_rows[key] = bench_langid_stage(docs, lang_id, batch_documents, repeats)
        # The heuristics' input: lang_id's output (lang, lang_score columns), outside the timing.
        table = _documents_table(docs)
        labelled = _concat_kept([lang_id.process(table.slice(start, batch_documents)) for start in range(0, table.num_rows, batch_documents)])
        heuristics_rows[key] = bench_heuristic_filters(labelled, stages, batch_documents, repeats)
    return {
        "pipeline": pipeline,
        "batch_documents": batch_documents,
        "lang_id": langid_rows,
        "heuristic_filters": heuristics_rows,
        "stage_params": {name: stage.params.model_dump(mode="json", exclude={"policy_phrases", "terminal_punctuation", "stop_words"})
                         for name, stage in {"lang_id": lang_id, **stages}.items()},
        "notes": [
            "MB = 10^6 UTF-8 bytes of input text; 1 process (one core); medians of the repeats",
            "the texts are extract_html's output: in the pipeline the heuristics see them after length_filter, PII "
            "scrubbing, dedup and line dedup, so these rejection counts are not the pipeline's",
            "alone: the stage on every document (after one untimed warm-up pass); chained: each stage gets the kept "
            "rows of the one before, batch by batch, so a later stage sees fewer documents; documents/s of a chain "
            "counts the documents that enter it",
            "datatrove: filter(doc) per document, English for every document (curate's stages read the lang column), "
            "spaCy blank English words and sentences; its C4 filter always rewrites doc.text with the kept lines "
            "(curate's c4_quality with edit_lines false does not)",
        ],
    }


def _print_lang_heuristics(section: dict) -> None:
    for texts_name, r in section["lang_id"].items():
        print(f"language ID, 1 process, {texts_name} ({r['documents']} documents, {r['text_mb']} MB of text):")
        for name, row in r["implementations"].items():
            print(f"{'  ' + name:<84} {row['documents_per_second']:>10}   {row['mb_per_second']} MB/s")
        if r["py3langid"]["status"] != "installed":
            print(f"{'  py3langid':<84} {'-':>10}   {r['py3langid']['status']}")
        elif r["py3langid"]["same_label_as_lid176"] is not None:
            print(f"{'  py3langid: same label as lid.176':<84} {r['py3langid']['same_label_as_lid176']:>10}")
    for texts_name, r in section["heuristic_filters"].items():
        print(f"heuristic filters, 1 process, {texts_name} ({r['documents']} documents, {r['text_mb']} MB of text):")
        for name, row in r["implementations"].items():
            print(f"{'  ' + name:<84} {row['documents_per_second']:>10}   {row['mb_per_second']} MB/s")
            for stage, counts in row.get("stages", {}).items():
                print(f"{'    ' + stage + ': documents in -> out':<84} {counts['documents_in']:>10} -> {counts['documents_out']}")
        dt = r["datatrove"]
        if dt["status"] != "installed":
            print(f"{'  datatrove':<84} {'-':>10}   {dt['status']}")
            continue
        for name, row in dt["alone"].items():
            print(f"{'  ' + name + ' alone (every document)':<84} {row['documents_per_second']:>10}   {row['mb_per_second']} MB/s")
        row = dt["together"]
        print(f"{'  datatrove ' + dt['version'] + ' GopherRepetition -> GopherQuality -> C4Quality chained':<84} {row['documents_per_second']:>10}   {row['mb_per_second']} MB/s")
        for stage, counts in row["stages"].items():
            print(f"{'    ' + stage + ': documents in -> out':<84} {counts['documents_in']:>10} -> {counts['documents_out']}")
        for name, ratio in r["ratios"].items():
            print(f"{'  ratio of MB/s, ' + name:<84} {ratio:>9}x")


# The default pipeline's model stages on CPU (quality_static filters; static_labels labels domain and
# topic on the same embeddings), and the fastText students they replaced, measured beside them.
CLASSIFIER_STUDENTS = ("quality_static", "static_labels")
EARLIER_STUDENTS = ("quality_fasttext", "domain_fasttext", "topic_fasttext")


def _rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def bench_classifiers(docs: list[dict], pipeline: str, repeats: int, transformer_documents: int, workdir: Path) -> dict:
    """The model-based classifiers on one core (torch limited to one thread), on the same texts:

    * the quality filter (``quality_static``: static MiniLM embeddings, 1,024 tokens), the fastText
      quality student it replaced (``quality_fasttext``) and the teacher (``embed_classifier``) on the
      same texts, each with the memory its model adds to the process (RSS after set-up minus before);
    * the default pipeline's model stages (``quality_static`` -> ``static_labels``, which reuses the
      filter's embeddings) and the fastText students they replaced (quality, domain, topic), each
      alone and chained, as stages over Arrow batches of its ray.batch_size (text out of Arrow,
      embedding or normalisation, predict, columns, histogram, split), and the raw fastText predict
      of the quality model on lines normalised outside the timing (the baseline: what a model costs);
    * the MiniLM teacher (``embed_classifier``, default heads) and a MiniLM sequence classifier
      through ``hf_classifier``'s model code (``curate.models.seqcls.throughput``; a fresh two-label
      head on the shipped MiniLM: the speed of a fine-tuned one), at 256 tokens, on the first
      ``transformer_documents`` texts.

    Ratios: chained students' documents/s over each transformer's (the issue asks >= 100x)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from curate.config import load_pipeline
    from curate.models.fasttext_classifier import fasttext_line
    from curate.models.resolve import resolve_model
    from curate.models.seqcls import throughput
    from curate.stages import registry
    from curate.stages.embed_classifier import EmbedClassifier, EmbedClassifierParams

    torch.set_num_threads(1)
    config = load_pipeline(pipeline)
    batch_documents = config.ray.batch_size
    stages = {}
    model_mib = {}
    for name in (*CLASSIFIER_STUDENTS, *EARLIER_STUDENTS):
        before = _rss_mib()
        stages[name] = _pipeline_stage(config, name)
        if stages[name] is None:
            stages[name] = registry()[name]()
            stages[name].ensure_setup()
        model_mib[name] = round(_rss_mib() - before, 1)
    earlier = {name: stages.pop(name) for name in EARLIER_STUDENTS}
    table = _documents_table(docs)
    batches = [table.slice(start, batch_documents) for start in range(0, table.num_rows, batch_documents)]
    n, text_bytes = table.num_rows, sum(len(d["text"].encode("utf-8")) for d in docs)
    from curate.models.static_embed import forget_recent

    def alone(stage):
        forget_recent()  # every pass embeds its texts (the static stages share recent rows in a process)
        return [stage.process(b) for b in batches]

    rows = {}
    for name, stage in {**stages, **earlier}.items():
        stage.process(batches[0])  # warm-up
        rows[f"curate {name} stage"] = {**_timed(lambda stage=stage: alone(stage), repeats, n, text_bytes),
                                        "model_memory_mib": model_mib[name]}

    def chain_of(chain: dict):
        def run():
            forget_recent()  # as in a worker: the first static stage embeds, the next reuses its rows
            for batch in batches:
                for stage in chain.values():
                    batch = stage.process(batch).kept
        return run

    rows["curate " + " -> ".join(stages) + " chained"] = _timed(chain_of(stages), repeats, n, text_bytes)
    rows["curate " + " -> ".join(earlier) + " chained (the fastText students they replaced)"] = _timed(
        chain_of(earlier), repeats, n, text_bytes)
    previous = {"quality_static": stages["quality_static"], "domain_fasttext": earlier["domain_fasttext"],
                "topic_fasttext": earlier["topic_fasttext"]}
    rows["curate " + " -> ".join(previous) + " chained (the filter with the fastText domain and topic students)"] = _timed(
        chain_of(previous), repeats, n, text_bytes)
    quality = earlier["quality_fasttext"]
    lines = [fasttext_line(d["text"], quality.params.max_chars) for d in docs]
    rows["raw fastText predict (quality model, k=-1, lines normalised beforehand)"] = _timed(
        lambda: quality.model.model.predict(lines, k=-1), repeats, n, text_bytes)

    few = docs[:transformer_documents]
    few_table = _documents_table(few)
    few_bytes = sum(len(d["text"].encode("utf-8")) for d in few)
    before = _rss_mib()
    teacher = EmbedClassifier(EmbedClassifierParams(torch_threads=1))
    teacher.ensure_setup()
    teacher_mib = round(_rss_mib() - before, 1)
    teacher.process(few_table.slice(0, 8))  # warm-up
    rows["curate embed_classifier stage (MiniLM teacher: quality head + domain and topic heads, 256 tokens)"] = {
        **_timed(lambda: teacher.process(few_table), repeats, len(few), few_bytes), "model_memory_mib": teacher_mib}
    minilm = resolve_model("builtin:all-MiniLM-L6-v2")
    head_dir = workdir / "minilm-seqcls"
    AutoModelForSequenceClassification.from_pretrained(minilm, num_labels=2).save_pretrained(head_dir)
    AutoTokenizer.from_pretrained(minilm).save_pretrained(head_dir)
    seqcls = throughput([d["text"] for d in few], str(head_dir), max_tokens=256, batch_size=16, repeats=repeats, threads=1)
    rows["curate hf_classifier model code (MiniLM + 2-label head, 256 tokens)"] = {
        "documents": len(few), "seconds_median": round(statistics.median(seqcls["seconds"]), 3),
        "mb_per_second": round(few_bytes / 1e6 / statistics.median(seqcls["seconds"]), 2),
        "documents_per_second": round(seqcls["docs_per_s"], 1), "runs": [round(t, 3) for t in seqcls["seconds"]],
        "truncated_documents": seqcls["truncated_documents"],
    }
    chain_name = "curate " + " -> ".join(stages) + " chained"
    chain = rows[chain_name]["documents_per_second"]
    transformers = [name for name in rows if "MiniLM" in name]
    # One student against one transformer classifier (the ">= 100x"), and the three chained
    # against the teacher, which scores all three heads in one forward pass.
    ratios = {f"curate {q} stage / {name}": round(rows[f"curate {q} stage"]["documents_per_second"] / rows[name]["documents_per_second"], 1)
              for q in ("quality_static", "quality_fasttext") for name in transformers}
    ratios.update({f"{chain_name} / {name}": round(chain / rows[name]["documents_per_second"], 1) for name in transformers})
    return {"documents": n, "text_mb": round(text_bytes / 1e6, 2), "batch_documents": batch_documents,
            "transformer_documents": len(few), "implementations": rows, "ratios": ratios,
            "notes": ["1 process, torch and the tokenizer's pool limited to 1 thread: documents/s per core; medians of the repeats after a warm-up",
                      "model_memory_mib: the process's RSS after the stage's set-up minus before (its model and tables)",
                      "students and teacher read the same extract_html output; the transformers read the first 256 tokens"]}


def bench_classifiers_section(documents: dict[str, list[dict]], pipeline: str, repeats: int, transformer_documents: int, workdir: Path) -> dict:
    # One core: the tokenizer's Rust pool stays on the calling thread while this section runs.
    saved = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:
        return {name: bench_classifiers(docs, pipeline, repeats, transformer_documents, workdir)
                for name, docs in documents.items() if docs}
    finally:
        if saved is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = saved


def _print_classifiers(section: dict) -> None:
    for texts_name, r in section.items():
        print(f"model-based classifiers, 1 core, {texts_name} ({r['documents']} documents, {r['text_mb']} MB; transformers on {r['transformer_documents']}):")
        for name, row in r["implementations"].items():
            memory = f", model {row['model_memory_mib']} MiB" if "model_memory_mib" in row else ""
            print(f"{'  ' + name[:82]:<84} {row['documents_per_second']:>10}   {row['mb_per_second']} MB/s{memory}")
        for name, ratio in r["ratios"].items():
            student, _, transformer = name.partition(" / ")
            label = f"  ratio {student.replace('curate ', '')[:38]} / {transformer.replace('curate ', '')[:30]}"
            print(f"{label:<84} {ratio:>9}x")


def bench_pipeline(corpus: Path, pipeline: str, repeats: int, workdir: Path) -> dict:
    import ray

    from curate.config import load_pipeline
    from curate.run import run_pipeline

    config = load_pipeline(pipeline)
    runs = []
    for i in range(repeats):
        with PeakRss() as rss:
            t0 = time.perf_counter()
            result = run_pipeline(config, str(corpus), workdir / f"run{i}", cards_dir=None, run_id=f"bench-{i}")
            wall = time.perf_counter() - t0
        card = result.card
        runs.append({
            "wall_seconds": round(wall, 2),
            "documents": card["ledger"]["input_documents"],
            "documents_per_second": round(card["ledger"]["input_documents"] / wall, 1),
            "peak_rss_mib": round(rss.peak / 2**20, 1),
            "stages": {s["stage"]: {"documents_in": s["documents_in"], "busy_seconds": s["busy_seconds"], "documents_per_busy_second": s["documents_per_busy_second"]} for s in card["stages"]},
            "ledger": card["ledger"]["equation"],
        })
        # A fresh Ray per repeat: the first includes start-up, as a user's run does.
        ray.shutdown()
    median_run = sorted(runs, key=lambda r: r["wall_seconds"])[len(runs) // 2]
    return {
        "repeats": runs,
        "median": {
            "wall_seconds": median_run["wall_seconds"],
            "documents_per_second": median_run["documents_per_second"],
            "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs),
            "stages": median_run["stages"],
        },
    }


# Every JSONL input file holds this many documents at both sizes: what one read task holds does not
# grow with the corpus, so any growth of a worker's memory comes from the dedup stages.
DEDUP_DOCS_PER_FILE = 1000
# Each replica has this share of its words edited (uniform per document): the low end stays above
# fuzzy_dedup's 0.8 Jaccard on 5-gram shingles (an edit breaks up to 5 shingles), the high end
# falls below it, so the larger corpus has both near duplicates to cluster and new documents.
REPLICA_EDIT_RATE = (0.005, 0.06)


def dedup_only_config(pipeline_path: str, partition_input_mib: float | None = None, shard_input_mib: float | None = None):
    """The pipeline's *_dedup stages alone (whatever the YAML lists, with the url_key they need), with its output and ray sections.

    ``partition_input_mib`` and ``shard_input_mib`` override the shuffle partition and output shard
    sizes, so that at both bench sizes the partition and shard counts grow with the corpus (rather
    than sitting at the 2 × CPUs floor and one shard) and per-worker memory shows how a partition scales.
    """
    import yaml

    from curate.config import parse_pipeline

    data = yaml.safe_load(Path(pipeline_path).read_text(encoding="utf-8"))
    # url_key computes the key url_dedup groups by (it runs before PII scrubbing in the pipeline).
    stages = [entry for entry in data.get("stages", []) if str(entry.get("stage", "")).endswith("_dedup") or entry.get("stage") == "url_key"]
    subset = {key: data[key] for key in ("seed", "read", "output", "ray") if key in data}
    subset.update(name=f"{data.get('name', 'pipeline')}-dedup-only", description=f"the *_dedup stages of {pipeline_path}", stages=stages)
    if partition_input_mib is not None:
        subset["ray"] = {**subset.get("ray", {}), "partition_input_mib": partition_input_mib}
    if shard_input_mib is not None:
        subset["output"] = {**subset.get("output", {}), "shard_input_mib": shard_input_mib}
    # An origin in <...>: the card must not name the YAML file as this run's config.
    return parse_pipeline(subset, origin=f"<{pipeline_path}: *_dedup stages>")


def _edit_words(text: str, rng: random.Random, rate: float) -> str:
    """Replace, delete or insert about ``rate`` of the words (at least one); lines stay lines."""
    parts = re.split(r"(\s+)", text)  # words at even positions, the whitespace between at odd ones
    words = list(range(0, len(parts), 2))
    if not words:
        return text
    for _ in range(max(1, round(len(words) * rate))):
        at, other = rng.choice(words), parts[rng.choice(words)]
        action = rng.randrange(3)
        if action == 0:
            parts[at] = other
        elif action == 1:
            parts[at] = ""
        else:
            parts[at] = f"{parts[at]} {other}"
    return "".join(parts)


def _replica_url(url: str | None, copy: int) -> str | None:
    """A URL of its own for a replica: the copy goes into the path, where URL normalisation keeps it
    (a suffix on the whole string could land in a fragment or a tracking parameter, which it drops)."""
    if not url:
        return None
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/replica-{copy}"))


def dedup_corpus(base: list[dict], documents: int, out_dir: Path, seed: int) -> dict:
    """JSONL of ``documents`` rows: ``base`` as it is, then seeded edited replicas with fresh ids and URLs."""
    out_dir.mkdir(parents=True)
    rng = random.Random(seed)
    replicas = 0
    handle = None
    for n in range(documents):
        if n % DEDUP_DOCS_PER_FILE == 0:
            if handle:
                handle.close()
            handle = open(out_dir / f"part-{n // DEDUP_DOCS_PER_FILE:05d}.jsonl", "w", encoding="utf-8")
        original = base[n % len(base)]
        copy = n // len(base)
        if copy == 0:
            row = {"id": original["id"], "url": original["url"], "text": original["text"]}
        else:
            replicas += 1
            row = {
                "id": f"{original['id']}-replica{copy}",
                "url": _replica_url(original["url"], copy),
                "text": _edit_words(original["text"] or "", rng, rng.uniform(*REPLICA_EDIT_RATE)),
            }
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    if handle:
        handle.close()
    return {"documents": documents, "originals": documents - replicas, "edited_replicas": replicas, "bytes": sum(f.stat().st_size for f in out_dir.iterdir())}


def bench_dedup(base: list[dict], sizes: list[int], pipeline: str, workdir: Path, partition_input_mib: float | None = None,
                shard_input_mib: float | None = None) -> dict:
    """A dedup-only run on embedded Ray at each corpus size: throughput, and memory of the whole tree and per worker."""
    import ray

    from curate.run import run_pipeline

    config = dedup_only_config(pipeline, partition_input_mib, shard_input_mib)
    runs = {}
    for size in sizes:
        corpus_dir = workdir / f"dedup-corpus-{size}"
        corpus = dedup_corpus(base, size, corpus_dir, seed=size)
        with PeakRss() as rss:
            t0 = time.perf_counter()
            result = run_pipeline(config, str(corpus_dir), workdir / f"dedup-run-{size}", cards_dir=None, run_id=f"bench-dedup-{size}")
            wall = time.perf_counter() - t0
        # A fresh Ray for each size, so one run's workers cannot carry memory into the next.
        ray.shutdown()
        card = result.card
        workers = rss.worker_peaks()
        runs[str(size)] = {
            "corpus": corpus,
            "wall_seconds": round(wall, 2),
            "documents_per_second": round(card["ledger"]["input_documents"] / wall, 1),
            "peak_rss_mib": round(rss.peak / 2**20, 1),
            "worker_processes": len(workers),
            "peak_rss_per_worker_mib": workers[0]["peak_rss_mib"] if workers else None,
            "peak_private_per_worker_mib": max((w["peak_private_mib"] for w in workers), default=None),
            "peak_worker": workers[0] if workers else None,
            "workers_by_peak_rss": workers[:6],
            "stages": {
                s["stage"]: {
                    "documents_in": s["documents_in"],
                    "rejected": s["rejected"],
                    "busy_seconds": s["busy_seconds"],
                    "documents_per_busy_second": s["documents_per_busy_second"],
                    "counters": s["counters"],
                }
                for s in card["stages"]
            },
            "ledger": card["ledger"]["equation"],
        }
    return {
        "stages": [r.cls.name for r in config.stages],
        "notes": [
            "wall seconds include starting embedded Ray (a fresh one per size)",
            "memory is sampled every 0.2 s: a spike shorter than that can be missed",
            "per worker: each Ray worker process's own peak RSS; private = RSS minus shared pages "
            "(libraries, object-store pages mapped from /dev/shm); a worker keeps its peak after the task",
        ],
        "runs_per_size": 1,
        "partition_input_mib": config.ray.partition_input_mib,
        "shard_input_mib": config.output.shard_input_mib,
        "replica_edit_rate": list(REPLICA_EDIT_RATE),
        "sizes": runs,
    }


def _run_cli(args: list[str], env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, RAY_AUTH_MODE=os.environ.get("RAY_AUTH_MODE", "disabled"), CURATE_PROGRESS_INTERVAL="1000")
    env.pop("RAY_ADDRESS", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "curate.cli", *args], capture_output=True, text=True, env=env)


def _roles(rss: PeakRss) -> dict:
    """Peak private memory (RSS minus shared pages) and CPU seconds by kind of process."""
    roles: dict[str, dict] = {}
    for r in rss.processes.values():
        title = r["command"]
        if "curate.cli" in title:
            role = "driver"
        elif "PassWorker" in " ".join(r["tasks"]) or "PassWorker" in title:
            role = "pass worker"
        elif "raylet" in title:
            role = "raylet"
        elif "gcs_server" in title:
            role = "gcs_server"
        else:
            role = "other Ray processes"
        entry = roles.setdefault(role, {"processes": 0, "peak_private_mib": 0.0, "cpu_seconds": 0.0})
        entry["processes"] += 1
        entry["peak_private_mib"] = max(entry["peak_private_mib"], round(r["peak_private"] / 2**20, 1))
        entry["cpu_seconds"] = round(entry["cpu_seconds"] + rss.cpu.get(r["pid"], 0.0), 2)
    return roles


def bench_runs(pages: int, scale: int, pipeline: str, workdir: Path) -> dict:
    """The default pipeline as a user runs it (`curate run`, a process of its own, embedded Ray) at
    two corpus sizes ``scale`` apart: wall time, peak private memory per worker and of the driver,
    where the CPU went (stage code against the whole process tree), how busy the cores were in the
    per-document passes, and what checkpointing cost (part-file I/O against unit time). Then a run
    killed half-way through its documents pass and resumed: what the resume reused and re-ran."""
    from curate.sample import generate_sample_corpus

    cpus = os.cpu_count() or 1
    sizes = {}
    corpora = {}
    for n in (pages, pages * scale):
        corpus = workdir / f"runs-corpus-{n}"
        generate_sample_corpus(corpus, seed=2, pages=n)
        corpora[n] = corpus / "warc"
        out = workdir / f"runs-out-{n}"
        with PeakRss(interval_s=0.5, include_self=False) as rss:
            t0 = time.perf_counter()
            proc = _run_cli(["run", "--corpus", str(corpora[n]), "--out", str(out), "--pipeline", pipeline, "--cards-dir", str(workdir / "cards")])
            wall = time.perf_counter() - t0
        if proc.returncode != 0:
            sizes[str(n)] = {"status": f"failed: {proc.stderr[-500:]}"}
            continue
        card = json.loads((out / "card.json").read_text())
        checkpoints = card["checkpoints"]
        stage_busy = sum(s["busy_seconds"] + s.get("setup_seconds", 0.0) for s in card["stages"])
        tree_cpu = sum(rss.cpu.values())
        busy = {}
        for p in checkpoints["passes"]:
            if p["pass"].endswith("-documents") or p["pass"].endswith("-map"):
                used = rss.cpu_between(p["started_at"], p["started_at"] + p["seconds"])
                busy[p["pass"]] = {"seconds": p["seconds"], "cpu_seconds": round(used, 1),
                                   "cores_busy": round(used / (p["seconds"] * cpus), 3) if p["seconds"] else None}
        sizes[str(n)] = {
            "documents": card["ledger"]["input_documents"],
            "input_mib": round(card["input"]["bytes"] / 2**20, 1),
            "wall_seconds": round(wall, 1),
            "documents_per_second": round(card["ledger"]["input_documents"] / wall, 1),
            "ledger": card["ledger"]["equation"],
            "processes": _roles(rss),
            "cpu": {"tree_seconds": round(tree_cpu, 1), "stage_busy_seconds": round(stage_busy, 1),
                    "stage_share": round(stage_busy / tree_cpu, 3) if tree_cpu else None,
                    "cores": cpus, "average_cores_busy": round(tree_cpu / (wall * cpus), 3)},
            "per_document_passes": busy,
            "checkpoints": {"work_mib": round(checkpoints["work_bytes"] / 2**20, 1), "io_seconds": checkpoints["io_seconds"],
                            "unit_seconds": checkpoints["unit_seconds"],
                            "io_share": round(checkpoints["io_seconds"] / checkpoints["unit_seconds"], 4) if checkpoints["unit_seconds"] else None,
                            "units": checkpoints["units"]},
        }
    # Resume: kill the driver once half the units of the filters-and-classifiers pass (the last
    # per-document phase) are committed, then rerun.
    files = len(list(corpora[pages].glob("*")))
    first = json.loads((workdir / f"runs-out-{pages}" / "card.json").read_text()) if (workdir / f"runs-out-{pages}" / "card.json").is_file() else None
    map_pass = next((p for p in (first or {}).get("checkpoints", {}).get("passes", []) if p["pass"].endswith("-map")), None)
    kill_after = max(1, (map_pass["units"] if map_pass else 2) // 2)
    out = workdir / "runs-resume"
    args = ["run", "--corpus", str(corpora[pages]), "--out", str(out), "--pipeline", pipeline, "--cards-dir", str(workdir / "cards")]
    t0 = time.perf_counter()
    killed = _run_cli(args, {"CURATE_FAULT_KILL_DRIVER": f"map:{kill_after}"})
    killed_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    resumed = _run_cli(args)
    resumed_s = time.perf_counter() - t0
    resume = {"status": "ok" if resumed.returncode == 0 and killed.returncode != 0 else f"failed: {resumed.stderr[-500:]}"}
    if resume["status"] == "ok":
        card = json.loads((out / "card.json").read_text())
        c = card["checkpoints"]
        resumed_map = next(p for p in c["passes"] if p["pass"].endswith("-map"))
        identical = all(
            (out / kind / f.name).read_bytes() == f.read_bytes()
            for kind in ("data", "rejects") for f in sorted((workdir / f"runs-out-{pages}" / kind).glob("*.parquet"))
        )
        full = sizes.get(str(pages), {}).get("wall_seconds")
        resume.update({
            "input_files": files, "killed_in": f"the map pass after {kill_after} of {resumed_map['units']} units",
            "killed_attempt_seconds": round(killed_s, 1),
            "resumed_attempt_seconds": round(resumed_s, 1), "uninterrupted_seconds": full,
            "units": c["units"], "units_reused": c["units_reused"],
            "map_units_reused": resumed_map["reused"], "map_units": resumed_map["units"],
            "units_rerun_at_most": resumed_map["workers"],
            "shards_identical_to_uninterrupted": identical,
        })
    return {"pipeline": pipeline, "sizes": sizes, "resume": resume,
            "notes": ["each size: one `curate run` process with its own embedded Ray (start-up included)",
                      "memory and CPU sampled every 0.5 s over the run's process tree; private = RSS minus shared pages",
                      "stage_share: seconds inside stage code (the card's busy and set-up seconds: models loaded once per worker) / CPU seconds of the whole tree",
                      "io_share: seconds units spent writing and reading part files / seconds units ran"]}


def _print_runs(section: dict) -> None:
    for size, r in section["sizes"].items():
        if "status" in r:
            print(f"curate run, {size} pages: {r['status']}")
            continue
        cpu, ck = r["cpu"], r["checkpoints"]
        print(f"{'curate run, default pipeline, ' + size + ' pages (' + str(r['input_mib']) + ' MiB)':<84} {r['documents_per_second']:>10}   wall {r['wall_seconds']} s")
        print(f"{'  CPU: stage code / whole process tree':<84} {cpu['stage_share']:>10}   {cpu['stage_busy_seconds']} of {cpu['tree_seconds']} CPU-s; cores busy {cpu['average_cores_busy']:.0%}")
        for name, b in r["per_document_passes"].items():
            print(f"{'  cores busy during ' + name:<84} {b['cores_busy']:>10}   {b['cpu_seconds']} CPU-s in {b['seconds']} s")
        print(f"{'  checkpoint I/O / unit time':<84} {ck['io_share']:>10}   {ck['io_seconds']} of {ck['unit_seconds']} s; {ck['work_mib']} MiB of work files")
        for role, p in r["processes"].items():
            print(f"{'  peak private memory, ' + role + ' (' + str(p['processes']) + ')':<84} {p['peak_private_mib']:>7} MiB   {p['cpu_seconds']} CPU-s")
    res = section["resume"]
    if res["status"] == "ok":
        print(f"{'resume after the driver was killed in ' + res['killed_in']:<84} "
              f"{res['resumed_attempt_seconds']:>8} s   vs {res['uninterrupted_seconds']} s uninterrupted; "
              f"{res['units_reused']} of {res['units']} units reused ({res['map_units_reused']} of {res['map_units']} map units; "
              f"≤ {res['units_rerun_at_most']} re-run); identical: {res['shards_identical_to_uninterrupted']}")
    else:
        print(f"resume: {res['status']}")


def _short_task(title: str | None) -> str:
    """ray::HashShuffleReduce(keys=('__shard',), partitions=1)->MapBatches(ShardWriter) -> HashShuffleReduce->MapBatches(ShardWriter)."""
    if not title:
        return "no task"
    return re.sub(r"\((?:keys|key_columns)=\(.*?\),[^)]*\)", "", title.removeprefix("ray::"))


def main(argv: list[str] | None = None) -> int:
    from curate.sample import generate_sample_corpus

    parser = argparse.ArgumentParser(prog="curate-bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=6000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--extract-pages", type=int, default=600, help="pages for the single-process extraction comparison")
    parser.add_argument("--pipeline", default="pipelines/llama3.yaml")
    parser.add_argument("--out", default="bench_results.json")
    parser.add_argument(
        "--real-pages",
        default=str(SHARED / "data" / "extraction" / "scrapinghub-aeb" / "html"),
        help="a folder of real *.html(.gz) pages for a second extraction comparison (skipped when absent)",
    )
    parser.add_argument("--pii-docs", type=int, default=3000, help="synthetic pages extracted for the single-process PII, language-ID and heuristic-filter comparisons")
    parser.add_argument(
        "--pii-eval",
        default=str(SHARED / "data" / "pii" / "presidio-research"),
        help="a folder of presidio-research *.json labelled samples for PII precision/recall (skipped when absent)",
    )
    parser.add_argument("--transformer-docs", type=int, default=200, help="texts the MiniLM teacher and sequence classifier are timed on")
    parser.add_argument("--dedup-docs", type=int, default=None, help="documents of the smaller dedup-only corpus (default: every kept document of the first pipeline run)")
    parser.add_argument("--dedup-scale", type=int, default=4, help="the larger dedup-only corpus is this many times the smaller")
    parser.add_argument("--dedup-partition-mib", type=float, default=2.0, help="shuffle partition size (MiB of input) for the dedup-only runs")
    parser.add_argument("--dedup-shard-mib", type=float, default=4.0, help="output shard size (MiB of input) for the dedup-only runs")
    parser.add_argument("--runs-pages", type=int, default=2000, help="pages of the smaller `curate run` corpus (scale, CPU and checkpoint figures)")
    parser.add_argument("--runs-scale", type=int, default=5, help="the larger `curate run` corpus is this many times the smaller")
    parser.add_argument("--only", choices=["runs", "classifiers", "extraction", "url_filter"], help="run only this section")
    parser.add_argument(
        "--shared", default=str(SHARED),
        help="the ../shared folder: its real pages (with gold) and WARC records join the extraction comparison (skipped when absent)")
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # Every run here is embedded. Without an address, ray.init() joins the cluster recorded in
    # /tmp/ray/ray_current_cluster by any `ray start` on this machine (a multi-node test running
    # beside the bench, say) and then waits forever once that cluster is gone; "local" always
    # starts a Ray of our own.
    os.environ["RAY_ADDRESS"] = "local"

    if args.only == "runs":
        with tempfile.TemporaryDirectory(prefix="curate-bench-") as tmp:
            runs = bench_runs(args.runs_pages, args.runs_scale, args.pipeline, Path(tmp))
        Path(args.out).write_text(json.dumps({"machine": _machine(), "runs": runs}, indent=2) + "\n")
        _print_runs(runs)
        print(f"results: {args.out}")
        return 0

    if args.only == "extraction":
        with tempfile.TemporaryDirectory(prefix="curate-bench-") as tmp:
            generate_sample_corpus(Path(tmp) / "corpus", seed=1, pages=args.pages)
            extraction = bench_extraction_section(Path(tmp) / "corpus" / "warc", args.extract_pages, Path(args.shared), args.repeats)
        Path(args.out).write_text(json.dumps({"machine": _machine(), "extraction_single_process": extraction}, indent=2) + "\n")
        _print_extraction(extraction)
        print(f"results: {args.out}")
        return 0

    if args.only == "url_filter":
        with tempfile.TemporaryDirectory(prefix="curate-bench-") as tmp:
            generate_sample_corpus(Path(tmp) / "corpus", seed=1, pages=args.pages)
            url_filter = bench_url_filter(Path(tmp) / "corpus" / "warc", Path(args.shared), args.repeats)
        Path(args.out).write_text(json.dumps({"machine": _machine(), "url_filter_single_process": url_filter}, indent=2) + "\n")
        _print_url_filter(url_filter)
        print(f"results: {args.out}")
        return 0

    if args.only == "classifiers":
        with tempfile.TemporaryDirectory(prefix="curate-bench-") as tmp:
            generate_sample_corpus(Path(tmp) / "corpus", seed=1, pages=args.pages)
            real = _real_pages(Path(args.real_pages))
            documents = section_documents(Path(tmp) / "corpus" / "warc", args.pii_docs, real, Path(args.real_pages).parent.name)
            classifiers = bench_classifiers_section(documents, args.pipeline, args.repeats, args.transformer_docs, Path(tmp))
        Path(args.out).write_text(json.dumps({"machine": _machine(), "classifiers_single_process": classifiers}, indent=2) + "\n")
        _print_classifiers(classifiers)
        print(f"results: {args.out}")
        return 0

    with tempfile.TemporaryDirectory(prefix="curate-bench-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        corpus = generate_sample_corpus(tmp / "corpus", seed=1, pages=args.pages)
        gen_s = time.perf_counter() - t0
        corpus_dir = tmp / "corpus" / "warc"
        corpus_bytes = sum(p.stat().st_size for p in corpus_dir.rglob("*") if p.is_file())
        extraction = bench_extraction_section(corpus_dir, args.extract_pages, Path(args.shared), args.repeats)
        url_filter = bench_url_filter(corpus_dir, Path(args.shared), args.repeats)
        real = _real_pages(Path(args.real_pages))
        documents = section_documents(corpus_dir, args.pii_docs, real, Path(args.real_pages).parent.name)
        pii = bench_pii_section(documents, Path(args.pii_eval), args.repeats)
        lang_heuristics = bench_lang_heuristics_section(documents, args.pipeline, args.repeats)
        classifiers = bench_classifiers_section(documents, args.pipeline, args.repeats, args.transformer_docs, tmp)
        pipeline = bench_pipeline(corpus_dir, args.pipeline, args.repeats, tmp)
        import pyarrow.parquet as pq

        kept = pq.read_table(tmp / "run0" / "data", columns=["id", "url", "text"]).to_pylist()
        minhash = bench_minhash([d["text"] for d in kept[:3000]], args.repeats)
        dedup_small = args.dedup_docs or len(kept)
        # The replicas are edits of kept texts: with none kept there is nothing to build them from.
        dedup = bench_dedup(kept, [dedup_small, dedup_small * args.dedup_scale], args.pipeline, tmp, args.dedup_partition_mib, args.dedup_shard_mib) if kept else {"status": "no kept documents to build a dedup corpus from", "sizes": {}}
        import ray

        ray.shutdown()  # the `curate run` processes start their own
        runs = bench_runs(args.runs_pages, args.runs_scale, args.pipeline, tmp)

    result = {
        "machine": _machine(),
        "corpus": {"pages": args.pages, "bytes": corpus_bytes, "generate_seconds": round(gen_s, 2), "summary": str(corpus)},
        "extraction_single_process": extraction,
        "url_filter_single_process": url_filter,
        "pipeline": pipeline,
        "pii_single_process": pii,
        "lang_id_and_heuristic_filters_single_process": lang_heuristics,
        "classifiers_single_process": classifiers,
        "minhash_signatures": minhash,
        "dedup_end_to_end": dedup,
        "runs": runs,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")

    print(f"\ncorpus: {args.pages} pages, {corpus_bytes / 2**20:.1f} MiB; medians of {args.repeats} runs; {os.cpu_count()} CPUs")
    print(f"{'measurement':<84} {'docs/s':>10}")
    _print_extraction(extraction)
    _print_url_filter(url_filter)
    _print_pii(pii)
    _print_lang_heuristics(lang_heuristics)
    _print_classifiers(classifiers)
    m = pipeline["median"]
    print(f"{'pipeline end-to-end (embedded Ray), synthetic sample pages':<84} {m['documents_per_second']:>10}   wall {m['wall_seconds']} s, peak RSS {m['peak_rss_mib']} MiB")
    for name, s in m["stages"].items():
        print(f"{'  stage ' + name + ' (documents per busy second)':<84} {s['documents_per_busy_second'] or '-':>10}")
    for name, r in minhash["implementations"].items():
        print(f"{'MinHash 128 perms, 5-gram shingles, 1 process: ' + name:<84} {r['documents_per_second']:>10}")
    if minhash["rensa"]["status"] != "installed":
        print(f"{'MinHash 128 perms, 5-gram shingles, 1 process: rensa':<84} {'-':>10}   {minhash['rensa']['status']}")
    shingling = next(v for k, v in minhash.items() if k.startswith("shingling_alone"))
    print(f"{'  shingling alone (word_shingles; inside every datasketch and rensa row)':<84} {shingling['documents_per_second']:>10}")
    for name, ratio in minhash["ratios"].items():
        print(f"{'  ratio ' + name:<84} {ratio:>9}x")
    if "status" in dedup:
        print(f"dedup only: {dedup['status']}")
    else:
        print(f"dedup only ({', '.join(dedup['stages'])}), embedded Ray, pre-extracted JSONL, 1 run per size:")
    for size, r in dedup["sizes"].items():
        c = r["corpus"]
        label = f"  {size} documents ({c['originals']} kept texts + {c['edited_replicas']} edited replicas)"
        print(f"{label:<84} {r['documents_per_second']:>10}   wall {r['wall_seconds']} s, peak RSS {r['peak_rss_mib']} MiB")
        top = r["peak_worker"]
        if top:
            print(f"{'    peak RSS of one Ray worker (of ' + str(r['worker_processes']) + ' worker processes)':<84} {top['peak_rss_mib']:>7} MiB   private {top['peak_private_mib']} MiB, after {_short_task(top['task_at_peak'])}")
        print(f"{'    peak private memory of one worker (the union-find runs inside a pass worker)':<84} {r['peak_private_per_worker_mib'] or '-':>7} MiB")
        for name, st in r["stages"].items():
            label = f"    stage {name} (documents per busy second; {st['rejected']} rejected)"
            print(f"{label:<84} {st['documents_per_busy_second'] or '-':>10}")
    _print_runs(runs)
    print(f"results: {args.out}")
    return 0


def _machine() -> dict:
    return {"cpus": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1), "python": platform.python_version()}


