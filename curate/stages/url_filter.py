"""Drop pages from adult and other blocked domains before any CPU is spent on them (Llama 3:
"domains known to contain adult content"; FineWeb's URL filter).

Lists, matching and the word rules are in ``curate.filters.url_blocklist``. In order, a page is
rejected when:

1. its host or a parent domain is in ``deny_domains`` (the run's own list) -> ``url_blocklist``,
   detail ``category=deny``;
2. its host or a parent domain, or its URL, is in a selected UT1 category (``categories``, adult by
   default) -> ``url_blocklist``, detail ``category=<name>`` (the first selected category that lists it);
3. its URL holds a banned word, enough soft words, or a banned subword (``banned_words``)
   -> ``url_banned_word``, detail ``word=...``, ``soft_words=...,...`` or ``subword=...``.

A host under ``allow_domains`` is never rejected by 2 or 3. Pages without a URL pass (counter
``documents_without_url``). Reject rows carry the URL scrubbed, like every reject row; the detail
names the category or the word, never the URL. Counters: ``rejected_<category>`` per category,
``rejected_banned_word``.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from curate.contract import StageOutput, StageParams
from curate.filters.url_blocklist import (
    DATATROVE_ASSETS,
    DATATROVE_VERSION,
    WORD_FILES,
    CategoryList,
    ListsUnavailable,
    WordLists,
    _strip_url,
    datatrove_asset,
    find_source,
    hash_names,
    host_of,
    host_suffixes,
    matches,
)
from curate.stages.base import Stage

_CATEGORY_NAME = r"^[a-z0-9_\-]+$"


class UrlFilterParams(StageParams):
    categories: list[str] = Field(default=["adult"], description="UT1 categories whose domains and URLs are dropped, in order")
    lists_dir: str | None = Field(default=None, description="a folder in UT1's layout (<category>/domains, <category>/urls) "
                                  "for categories beyond the shipped adult list, or to replace it")
    banned_words: bool = Field(default=True, description="FineWeb's banned words, soft words and subwords in the URL")
    soft_word_threshold: int = Field(default=2, ge=1, description="soft words a URL needs to be dropped")
    extra_banned_words: list[str] = Field(default=[], description="more whole words that drop a URL")
    extra_banned_subwords: list[str] = Field(default=[], description="more substrings that drop a URL")
    allow_domains: list[str] = Field(default=[], description="domains (and their subdomains) never dropped by the lists or words")
    deny_domains: list[str] = Field(default=[], description="domains (and their subdomains) always dropped (category 'deny')")
    url_column: str = Field(default="url", description="the column holding the page URL")

    @field_validator("categories")
    @classmethod
    def _categories_named(cls, value: list[str]) -> list[str]:
        import re

        bad = [c for c in value if not re.match(_CATEGORY_NAME, c)]
        if bad:
            raise ValueError(f"category names are UT1 folder names (a-z, 0-9, _ and -): {bad}")
        if "deny" in value:
            raise ValueError("'deny' is the run's own list: use deny_domains")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _lists_present(self):
        """Every list the stage will read is there now, so a missing one fails when the pipeline is
        parsed (naming the category and how to get it), not in the first worker."""
        for category in self.categories:
            find_source(category, self.lists_dir)
        if self.banned_words:
            missing = [name for name in WORD_FILES.values() if datatrove_asset(f"{DATATROVE_ASSETS}/{name}") is None]
            if missing:
                raise ListsUnavailable(f"url_filter: FineWeb's word lists {missing} are not installed "
                                       f"(pip install --no-deps datatrove=={DATATROVE_VERSION}), or set banned_words: false")
        return self

    @field_validator("allow_domains", "deny_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return sorted({d.strip().lower().strip(".") for d in value if d.strip()})


class UrlFilter(Stage):
    name = "url_filter"
    version = "1"
    Params = UrlFilterParams

    def setup(self) -> None:
        p: UrlFilterParams = self.params
        self._lists = [CategoryList.load(find_source(c, p.lists_dir)) for c in p.categories]
        self._deny = np.unique(hash_names(p.deny_domains))
        self._allow = np.unique(hash_names(p.allow_domains))
        self._words = WordLists.shipped(p.soft_word_threshold, p.extra_banned_words, p.extra_banned_subwords) if p.banned_words else None

    @classmethod
    def reads(cls, params: UrlFilterParams) -> dict[str, str]:
        return {} if params.url_column == "url" else {"url_column": params.url_column}

    def process(self, batch: pa.Table) -> StageOutput:
        self.ensure_setup()
        p: UrlFilterParams = self.params
        urls = batch.column(p.url_column).to_pylist() if p.url_column in batch.column_names else [None] * batch.num_rows
        # every (row, host suffix) pair, hashed once, looked up in each list with one searchsorted
        owners, suffixes = [], []
        for row, url in enumerate(urls):
            for suffix in host_suffixes(host_of(url).lower()):
                owners.append(row)
                suffixes.append(suffix)
        owners_array = np.array(owners, dtype=np.int64)
        hashes = hash_names(suffixes)

        def rows_listed(domain_hashes: np.ndarray) -> set[int]:
            return set(owners_array[matches(domain_hashes, hashes)].tolist())

        allowed, denied = rows_listed(self._allow), rows_listed(self._deny)
        listed = [(lst, rows_listed(lst.domains)) for lst in self._lists]
        counters: Counter = Counter()
        keep, reasons, details = [], [], []
        for row, url in enumerate(urls):
            reason = detail = None
            if not url:
                counters["documents_without_url"] += 1
            elif row in denied:
                reason, detail = "url_blocklist", "category=deny"
            elif row not in allowed:
                stripped = None
                for lst, rows in listed:
                    if row in rows or (lst.urls and (stripped := stripped or _strip_url(url)) in lst.urls):
                        reason, detail = "url_blocklist", f"category={lst.category}"
                        break
                if reason is None and self._words is not None:
                    word = self._words.match(url)
                    if word is not None:
                        reason, detail = "url_banned_word", word
            if reason == "url_blocklist":
                counters[f"rejected_{detail.split('=', 1)[1]}"] += 1
            elif reason == "url_banned_word":
                counters["rejected_banned_word"] += 1
            keep.append(reason is None)
            reasons.append(reason)
            details.append(detail)
        kept, rejected = self.split(batch, keep, reasons, details)
        return StageOutput(kept=kept, rejected=rejected, counters={k: float(v) for k, v in counters.items()})
