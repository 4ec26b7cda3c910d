"""`make bench`: the pipeline on a larger generated corpus, with baselines measured in the same run.

Writes a JSON file and prints a table:
  * end-to-end documents/s of `curate run` on embedded Ray (median of --repeats runs), peak RSS of
    the whole process tree (driver + raylet + workers), and per-stage documents per busy second;
  * single-process extraction on the same pages: plain `trafilatura.extract` (the baseline) and
    curate's extract_html stage, documents/s (median of --repeats passes) — on the synthetic
    pages and, when ../shared is beside the checkout, on real article pages too.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psutil


class PeakRss:
    """Samples the summed RSS of this process and all its descendants (Ray's workers included)."""

    def __init__(self, interval_s: float = 0.2):
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        me = psutil.Process()
        total = 0
        for proc in [me, *me.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval_s)

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


def bench_extraction(pages: list[bytes], repeats: int) -> dict:
    import pyarrow as pa
    import trafilatura

    from curate.schema import DOCUMENT_SCHEMA, conform
    from curate.stages.extract_html import HtmlExtractor

    def baseline():
        for html in pages:
            trafilatura.extract(html)

    stage = HtmlExtractor()
    stage.ensure_setup()
    batch = conform(pa.table({"id": [str(i) for i in range(len(pages))], "html": pages}), DOCUMENT_SCHEMA)

    def ours():
        for start in range(0, batch.num_rows, 64):
            stage.process(batch.slice(start, 64))

    results = {}
    for name, fn in [("trafilatura.extract (baseline)", baseline), ("curate extract_html", ours)]:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        median = statistics.median(times)
        results[name] = {"pages": len(pages), "seconds_median": round(median, 3), "documents_per_second": round(len(pages) / median, 1), "runs": [round(t, 3) for t in times]}
    return results


def bench_minhash(texts: list[str], repeats: int) -> dict:
    """Signatures/s: curate's batch MinHash vs datasketch (per document and bulk), same hash function."""
    from datasketch import MinHash

    from curate.dedup.minhash import BatchMinHasher, shingle_hash, word_shingles

    hasher = BatchMinHasher()

    def per_document():
        for text in texts:
            hasher.datasketch_minhash(text)

    def bulk():
        MinHash.bulk([word_shingles(t) for t in texts], num_perm=hasher.num_perm, seed=hasher.seed, hashfunc=shingle_hash)

    results = {}
    for name, fn in [("datasketch MinHash per document (baseline)", per_document), ("datasketch MinHash.bulk", bulk), ("curate BatchMinHasher", lambda: hasher.signatures(texts))]:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        results[name] = {"documents": len(texts), "documents_per_second": round(len(texts) / statistics.median(times), 1)}
    return results


def bench_pipeline(corpus: Path, pipeline: str, repeats: int, workdir: Path) -> dict:
    import ray

    from curate.config import load_pipeline
    from curate.runner import run_pipeline

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
        default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "extraction" / "scrapinghub-aeb" / "html"),
        help="a folder of real *.html(.gz) pages for a second extraction comparison (skipped when absent)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")

    with tempfile.TemporaryDirectory(prefix="curate-bench-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        corpus = generate_sample_corpus(tmp / "corpus", seed=1, pages=args.pages)
        gen_s = time.perf_counter() - t0
        corpus_dir = tmp / "corpus" / "warc"
        corpus_bytes = sum(p.stat().st_size for p in corpus_dir.rglob("*") if p.is_file())
        pages = _html_pages(corpus_dir, args.extract_pages)
        extraction = {"synthetic sample pages": bench_extraction(pages, args.repeats)}
        real = _real_pages(Path(args.real_pages))
        if real:
            extraction[f"real pages ({Path(args.real_pages).parent.name})"] = bench_extraction(real, args.repeats)
        pipeline = bench_pipeline(corpus_dir, args.pipeline, args.repeats, tmp)
        import pyarrow.parquet as pq

        kept_texts = pq.read_table(tmp / "run0" / "data", columns=["text"]).column("text").to_pylist()[:3000]
        minhash = bench_minhash(kept_texts, args.repeats)

    result = {
        "machine": {"cpus": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1), "python": platform.python_version()},
        "corpus": {"pages": args.pages, "bytes": corpus_bytes, "generate_seconds": round(gen_s, 2), "summary": str(corpus)},
        "extraction_single_process": extraction,
        "pipeline": pipeline,
        "minhash_signatures": minhash,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")

    print(f"\ncorpus: {args.pages} pages, {corpus_bytes / 2**20:.1f} MiB; medians of {args.repeats} runs; {os.cpu_count()} CPUs")
    print(f"{'measurement':<84} {'docs/s':>10}")
    for pages_name, by_extractor in extraction.items():
        for name, r in by_extractor.items():
            print(f"{'extraction, 1 process, ' + pages_name + ': ' + name:<84} {r['documents_per_second']:>10}")
    m = pipeline["median"]
    print(f"{'pipeline end-to-end (embedded Ray), synthetic sample pages':<84} {m['documents_per_second']:>10}   wall {m['wall_seconds']} s, peak RSS {m['peak_rss_mib']} MiB")
    for name, s in m["stages"].items():
        print(f"{'  stage ' + name + ' (documents per busy second)':<84} {s['documents_per_busy_second'] or '-':>10}")
    for name, r in minhash.items():
        print(f"{'MinHash 128 perms, 5-gram shingles, 1 process: ' + name:<84} {r['documents_per_second']:>10}")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
