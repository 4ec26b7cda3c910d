"""The default sample corpus: a seeded synthetic web crawl in WARC files, with a ground-truth sidecar.

``generate_sample_corpus(out_dir, seed=0, pages=3000, pages_per_warc=500)`` writes::

    out_dir/warc/sample-00000.warc.gz ...   warcinfo, then request + response per page (gzip per record)
    out_dir/ground_truth.jsonl              one line per response record: what was planted in it
    out_dir/README.md                       how it was generated, with the counts

Pages are full HTML documents (head, navigation, header, sidebar, cookie banner, footer) around
an article in one of eleven languages; categories are general articles, news, code tutorials,
math notes, spam, boilerplate-only pages, very short pages and non-HTML responses. Planted on
top: exact duplicates on other sites, near-duplicate clusters with a measured word 5-gram
Jaccard, re-fetches of a URL (also under spellings that normalise alike), lines repeated across
many pages, fake PII (emails, phones, IPs, cards, IBANs, SSNs, API keys) and quality defects.
``ground_truth.jsonl`` records all of it plus the gold main text, so every stage can be scored.

All text is made here: hand-written grammars and word lists (``data/sample_lexicon.json``), code
and formula templates (``data/sample_snippets.txt``) and Faker for names, places and PII values.
Same seed and sizes => byte-identical files (with the same Faker, warcio and zlib versions).

Ids: a reader run on ``out_dir/warc`` (what ``curate run`` does with the sample) names each
document ``document_id(source, offset)`` with ``source`` the file's path relative to ``warc/``
(``sample-00000.warc.gz``) and ``offset`` the byte offset of the response record's gzip member.
The ground truth stores ``source``, ``offset`` and that ``id`` (and ``file``, the path relative to
``out_dir``), so it joins with the readers' output directly.

Ground-truth fields (one JSON object per response record, in file order):

* ``id``, ``source``, ``offset``, ``file``, ``warc_record_id``, ``url``, ``fetch_time`` (WARC-Date),
  ``content_type`` (media type), ``charset`` (the page's declared charset; None for binaries);
* ``language`` (ISO 639-1; None for non-HTML), ``category`` (CATEGORY_NAMES), ``topic`` (English
  general/news/short pages: one of twelve topics; code -> technology, math -> science), ``title``;
* ``exact_dup_of``: the original's id for a copy of its text on another site, else None;
* ``near_dup_cluster``: the cluster's id (= its original's id) for every member, the original
  included; ``near_dup_of`` (copies: the original), ``near_dup_edit_fraction`` (words edited:
  swaps, insertions, deletions; 0.0 for the original) and ``near_dup_jaccard`` (word 5-gram
  shingle Jaccard of the main texts vs the original, as ``jaccard()``; 1.0 for the original);
* ``url_refetch_of``: the first fetch's id for a later fetch of the same URL (or a spelling of it
  that URL normalisation folds back), slightly changed, else None;
* ``planted_pii``: [{type, value}] with types PII_TYPES, each value verbatim in the page;
* ``planted_lines``: lines from the repeated-line pool placed in the main text;
* ``defects``: DEFECTS planted (thin pages carry ``short`` / ``boilerplate_heavy``);
* ``words`` (whitespace words of the main text) and ``main_text``: the gold text of the article
  body, one line per paragraph, heading, list item, code block (verbatim) or display formula (its
  TeX); None for non-HTML.

A source original is copied one way only, so exact, near and re-fetch families never overlap, and
no two pages from different families share a text, a normalised URL or 5-gram Jaccard >= 0.5.
"""
from __future__ import annotations

from curate.sample.build import generate_sample_corpus
from curate.sample.constants import CATEGORY_NAMES, DEFECTS, NEAR_EDIT_FRACTIONS, PII_TYPES
from curate.sample.ground_truth import SampleCorpus, jaccard, read_ground_truth, word_shingles

__all__ = ["CATEGORY_NAMES", "DEFECTS", "NEAR_EDIT_FRACTIONS", "PII_TYPES", "SampleCorpus", "generate_sample_corpus", "jaccard",
           "read_ground_truth", "word_shingles"]
