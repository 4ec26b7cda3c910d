"""``generate_sample_corpus``: plan, render, write the WARC files, the ground truth and the README."""
from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path

from curate.sample.constants import CATEGORY_NAMES, DEFECTS
from curate.sample.documents import _main_text
from curate.sample.generator import _Generator
from curate.sample.ground_truth import SampleCorpus
from curate.sample.warc import _warc_date, _write_warc
from curate.schema import document_id

# --- entry point --------------------------------------------------------------------------------


def generate_sample_corpus(out_dir: Path, *, seed: int = 0, pages: int = 3000, pages_per_warc: int = 500) -> SampleCorpus:
    """Write the seeded sample corpus into ``out_dir`` (see the module docstring)."""
    if pages < 1 or pages_per_warc < 1:
        raise ValueError("pages and pages_per_warc must be >= 1")
    out_dir = Path(out_dir)
    warc_dir = out_dir / "warc"
    warc_dir.mkdir(parents=True, exist_ok=True)
    for stale in warc_dir.glob("sample-*.warc.gz"):
        stale.unlink()
    gen = _Generator(seed)
    docs = gen.plan(pages)

    # Crawl order is not time order across files: shuffle, then sort each file by fetch time.
    order = list(docs)
    gen.rng.shuffle(order)
    warc_files, location = [], {}
    for index, start in enumerate(range(0, len(order), pages_per_warc)):
        chunk = sorted(order[start:start + pages_per_warc], key=lambda d: (d.time, d.n))
        source = f"sample-{index:05d}.warc.gz"
        warcinfo_id = f"<urn:uuid:{uuid.UUID(int=gen.rng.getrandbits(128), version=4)}>"
        data, offsets = _write_warc(gen, f"warc/{source}", chunk, seed, warcinfo_id)
        path = warc_dir / source
        path.write_bytes(data)
        warc_files.append(path)
        for doc in chunk:
            location[doc.n] = (source, offsets[doc.n])

    ids = {d.n: document_id(*location[d.n]) for d in docs}
    rows, categories, languages, duplicates, defects = [], Counter(), Counter(), Counter(), Counter()
    pii_documents = 0
    for doc in sorted(docs, key=lambda d: location[d.n]):
        source, offset = location[doc.n]
        main_text = None if doc.category == "non_html" else _main_text(doc.blocks)
        near_cluster = None
        if doc.kind == "near":
            near_cluster = ids[doc.source.n]
        elif doc.used_as == "near":
            near_cluster = ids[doc.n]
        rows.append({
            "id": ids[doc.n], "source": source, "offset": offset, "file": f"warc/{source}",
            "warc_record_id": doc.record_id, "url": doc.url, "fetch_time": _warc_date(doc.time),
            "content_type": doc.content_type, "charset": doc.charset, "language": doc.lang, "category": doc.category,
            "topic": doc.topic, "title": doc.title or None,
            "exact_dup_of": ids[doc.source.n] if doc.kind == "exact" else None,
            "near_dup_cluster": near_cluster,
            "near_dup_of": ids[doc.source.n] if doc.kind == "near" else None,
            "near_dup_edit_fraction": doc.near_edit_fraction if doc.kind == "near" else (0.0 if near_cluster else None),
            "near_dup_jaccard": doc.near_jaccard if doc.kind == "near" else (1.0 if near_cluster else None),
            "url_refetch_of": ids[doc.source.n] if doc.kind == "refetch" else None,
            "planted_pii": doc.pii, "planted_lines": doc.planted_lines, "defects": doc.defects,
            "words": None if main_text is None else len(main_text.split()),
            "main_text": main_text,
        })
        categories[doc.category] += 1
        languages[doc.lang or "none"] += 1
        if doc.kind != "original":
            duplicates[{"exact": "exact_dup", "near": "near_dup", "refetch": "url_refetch"}[doc.kind]] += 1
        pii_documents += bool(doc.pii)
        defects.update(doc.defects)

    ground_truth = out_dir / "ground_truth.jsonl"
    ground_truth.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    corpus = SampleCorpus(
        root=out_dir, warc_files=warc_files, ground_truth=ground_truth, readme=out_dir / "README.md", seed=seed,
        records=len(docs), categories={k: categories[k] for k in CATEGORY_NAMES if categories[k]},
        languages=dict(sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))),
        duplicates={k: duplicates[k] for k in ("exact_dup", "near_dup", "url_refetch")}, pii_documents=pii_documents,
        defects={k: defects[k] for k in DEFECTS if defects[k]},
    )
    corpus.readme.write_text(_readme(corpus, pages_per_warc, rows), encoding="utf-8")
    return corpus


def _readme(corpus: SampleCorpus, pages_per_warc: int, rows: list[dict]) -> str:
    from importlib.metadata import version

    def table(title: str, counts: dict) -> str:
        return f"| {title} | records |\n|---|---:|\n" + "".join(f"| {k} | {v} |\n" for k, v in counts.items())

    pii = Counter(p["type"] for r in rows for p in r["planted_pii"])
    clusters = Counter(r["near_dup_cluster"] for r in rows if r["near_dup_cluster"])
    return f"""# curate sample corpus

A synthetic web crawl written by `curate.sample.generate_sample_corpus` (`curate sample`) with
seed {corpus.seed}: {corpus.records} HTTP response records in {len(corpus.warc_files)} WARC files
(`warc/`, up to {pages_per_warc} responses each). Nothing in it was fetched from the web.

- Page text: hand-written grammars and word lists in eleven languages
  (`curate/data/sample_lexicon.json`); code and formulas: templates in
  `curate/data/sample_snippets.txt`; names, places, companies and every planted PII value: Faker
  {version("faker")} with a seeded generator. All PII is fake.
- Each WARC file starts with a `warcinfo` record; every page is a `request` record followed by its
  `response` record (HTTP headers with Content-Type and charset); one gzip member per record. Fetch
  times lie in 2023-2025; files are in shuffled crawl order, each sorted by fetch time.
- `ground_truth.jsonl`: one line per response record with its reader id
  (`curate.schema.document_id(source, offset)`, `source` relative to `warc/`), URL, language,
  category, duplicate links (`exact_dup_of`, `near_dup_cluster`/`near_dup_of` with the edit fraction
  and word 5-gram Jaccard, `url_refetch_of`), planted PII, planted repeated lines, defects and the
  gold main text.

Same seed, `pages` and `pages_per_warc` give byte-identical files (with the same Faker, warcio
{version("warcio")} and zlib).

{table("category", corpus.categories)}
{table("language", corpus.languages)}
{table("duplicate kind (copies)", corpus.duplicates)}
Near-duplicate clusters: {len(clusters)} (sizes {dict(sorted(Counter(clusters.values()).items()))}).

{table("planted PII type", dict(sorted(pii.items())))}
Documents with planted PII: {corpus.pii_documents}.

{table("defect", corpus.defects)}"""
