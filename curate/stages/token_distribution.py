"""Token-distribution KL divergence (Llama 3): reject documents whose words are outliers for their language.

Scores (``curate.filters.token_kl``: tokens, the wordfreq reference Q, the OOV floor, the null
curve), written for every document before the split, null where the document is not scored:

* ``token_kl`` (float32): KL(P || Q) in nats, P the document's unigram distribution;
* ``token_kl_excess`` (float32): ``token_kl`` minus the KL a document of the same length drawn from
  Q itself would have on average (the reference's *null curve*). This is what the default rule
  thresholds: raw KL falls with length (real English pages: median 5.1 nats under 50 tokens, 2.2
  over 1,600; correlation with ln tokens -0.73, German -0.64), because a short text cannot spread
  over many types. The excess is flat in length (medians 0.74-0.92 nats in every band from 50 to
  1,600+ tokens in English, 0.81-1.04 in German; correlation -0.10 and -0.04), so one threshold
  serves all lengths;
* ``token_kl_oov_frac`` (float32): the share of tokens outside the reference (mojibake, another
  language, codes and identifiers).

Rules (reason ``token_kl``; ``would_reject_token_kl_<rule>`` counts each on its own):

* ``excess``: ``token_kl_excess > max_excess`` (``max_excess_by_language`` per language) — detail
  ``excess=3.41>3.00 kl=6.95 tokens=318 lang=pl``;
* ``kl``: ``token_kl > max_kl`` (the plain rule, off by default) — detail ``kl=5.31>4.20 tokens=97 lang=en``.

Documents with fewer than ``min_tokens`` tokens are scored but never rejected here (counter
``too_short_to_judge``): the null curve's spread is +-0.5 nats at 32 tokens, and ``length_filter``
is the stage for short pages.

Default threshold, from real pages (``evals.dirty_kl.kl_calibration``): 920 pages of
../shared extracted as the pipeline does (curate's WARC reader and ``HtmlExtractor``) — the 91
Scrapinghub news articles (gold bodies), 250 DCLM human-labelled Common Crawl documents, 495
trafilatura-eval pages, 84 Common Crawl / ClueWeb / wget WARC responses and a CC WET record —
labelled by lid.176; 919 are in a wordfreq language (456 English, 348 German, 30 Spanish, 30
Japanese, 16 French, 15 Chinese, ...). ``token_kl_excess`` there: median 0.87 nats, MAD 0.35
(robust sigma 1.4826 * MAD = 0.52), 90th percentile 1.67, 95th 2.17, 99th 3.86.
``max_excess = 3.0`` is median + 4 robust sigma (2.94, rounded): it rejects 2.3% of the real pages
(21/919) — product-spec and address lists, results tables and box scores, a mojibake page, a dog
breeder's listing, lyrics in pinyin and an Aragonese article mislabelled by language ID — with a
few legitimate list-heavy pages among them (a meal plan, a researcher's home page, a journal
abstract page); and 3 of the 114 DCLM pages humans labelled low quality against none of the 136
labelled high (ROC-AUC of the score for "low quality": 0.65: a weak quality signal, as expected of
an outlier filter). On the sample corpus every clean page, all languages, stays below 2.4 and the
planted spam is above: keyword stuffing 3.45-6.65 (all rejected), adult spam 2.98-4.36 (40 of 41).
Per-language data is thin outside English and German (medians 0.80 and 0.93), so the default is
one global value.

Language: the optional ``lang`` column (``language_column``), mapped to wordfreq's lists
(``no`` -> nb, ``tl`` -> fil, ``sr``/``hr``/``bs`` -> sh, region suffixes dropped). A document
without one (no column, a null, empty or ``und`` value) is judged in ``default_language``, "en"
(counter ``default_language_used``) — in a multilingual pipeline put ``lang_id`` first, or every
non-English page without a label scores as an outlier of English; null leaves them unscored. A
language wordfreq has no list for (or outside ``languages``) is never scored nor rejected (counter
``unscored_language``).

Runs as plain tasks: each language's reference takes 0.4-0.9 s to build (read the list, keep the
top ``top_n``, sample its null curve) and ~12 MB to hold, and is cached per worker process, so a
process builds it once; ``setup`` builds the default language's (and every one in
``languages``), others are built the first time a document needs them.
"""
from __future__ import annotations

import math
from collections import Counter

import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from curate.contract import ScoreHistogram, StageOutput, StageParams
from curate.filters.token_kl import DEFAULT_TOP_N, Reference, divergence, reference, reference_language, tokenize, wordlists
from curate.stages.base import Stage
from curate.stages.dirty_words import document_language, set_column

RULES = ("excess", "kl")


class TokenDistributionParams(StageParams):
    max_excess: float | None = Field(
        default=3.0, description="token_kl_excess (nats) above this -> token_kl (null: off); median + 4 robust sigma of real pages")
    max_excess_by_language: dict[str, float] = Field(
        default={}, description="per-language thresholds for token_kl_excess, replacing max_excess for that language")
    max_kl: float | None = Field(
        default=None, gt=0, description="raw token_kl (nats) above this -> token_kl (null: off; depends on length, see the module doc)")
    min_tokens: int = Field(default=50, ge=1, description="documents with fewer tokens are scored but never rejected")
    top_n: int = Field(default=DEFAULT_TOP_N, ge=1000, le=1_000_000, description="most frequent wordfreq types kept per reference")
    languages: list[str] | None = Field(
        default=None, description="languages to score (codes as lang gives them); null: every language wordfreq has")
    language_column: str = Field(default="lang", description="column with the document's language (optional)")
    default_language: str | None = Field(
        default="en", description="language of documents without one (no column, null, empty or 'und'); null: leave them unscored")

    @field_validator("max_excess_by_language")
    @classmethod
    def _threshold_languages(cls, value: dict[str, float]) -> dict[str, float]:
        out = {}
        for code, threshold in value.items():
            language = document_language(code)
            if language is None or not math.isfinite(threshold):
                raise ValueError(f"max_excess_by_language[{code!r}] = {threshold}: needs a language code and a finite value")
            out[language] = threshold
        return out

    @field_validator("languages")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for code in value:
            if reference_language(code) is None:
                raise ValueError(f"wordfreq has no list for {code!r} (it has: {', '.join(sorted(wordlists()))})")
        return sorted({document_language(code) for code in value})

    @model_validator(mode="after")
    def _default_known(self):
        if self.default_language is not None and reference_language(self.default_language) is None:
            raise ValueError(f"default_language {self.default_language!r}: wordfreq has no list for it")
        return self


class TokenDistribution(Stage):
    name = "token_distribution"
    version = "1"
    Params = TokenDistributionParams
    writes = {"token_kl": pa.float32(), "token_kl_excess": pa.float32(), "token_kl_oov_frac": pa.float32()}
    # Plain tasks, not an actor pool: references are cached per worker process
    # (``curate.filters.token_kl.reference``), so a task pays the 0.4–0.9 s build only the first
    # time its process meets a language.
    uses_model = False

    @classmethod
    def models(cls, params: TokenDistributionParams) -> list[dict]:
        from importlib.metadata import version

        return [{"role": "token_reference", "model": f"wordfreq {version('wordfreq')} unigram lists, top {params.top_n} types",
                 "license": "CC BY-SA 4.0 (wordfreq data; code Apache-2.0)"}]

    @classmethod
    def score_histograms(cls, p: TokenDistributionParams) -> dict[str, ScoreHistogram]:
        excess_lines = tuple(sorted({t for t in (p.max_excess, *p.max_excess_by_language.values()) if t is not None and -2 <= t <= 8}))
        return {
            "token_kl_excess": ScoreHistogram(-2.0, 8.0, 40, excess_lines, "KL above a same-length sample of the reference (nats)"),
            "token_kl": ScoreHistogram(0.0, 12.0, 48, (p.max_kl,) if p.max_kl is not None and p.max_kl <= 12 else (), "KL(document || reference) (nats)"),
            "token_kl_oov_frac": ScoreHistogram(0.0, 1.0, 20, (), "tokens outside the reference"),
        }

    def setup(self) -> None:
        p: TokenDistributionParams = self.params
        self._references: dict[str | None, Reference | None] = {}
        for code in [p.default_language, *(p.languages or [])]:
            if code is not None:
                self._reference(document_language(code))

    def _reference(self, language: str | None) -> Reference | None:
        if language not in self._references:
            p: TokenDistributionParams = self.params
            allowed = language is not None and (p.languages is None or language in p.languages)
            wordlist = reference_language(language) if allowed else None
            self._references[language] = reference(wordlist, p.top_n) if wordlist else None
        return self._references[language]

    def process(self, batch: pa.Table) -> StageOutput:
        self.ensure_setup()
        p: TokenDistributionParams = self.params
        n = batch.num_rows
        texts = batch.column("text").to_pylist()
        langs = batch.column(p.language_column).to_pylist() if p.language_column in batch.column_names else [None] * n
        default = document_language(p.default_language) if p.default_language else None
        kls: list[float | None] = []
        excesses: list[float | None] = []
        oovs: list[float | None] = []
        keep, reasons, details = [], [], []
        counters: Counter = Counter({f"would_reject_token_kl_{rule}": 0.0 for rule in RULES})
        for text, lang in zip(texts, langs, strict=True):
            language = document_language(lang)
            if language is None and default is not None:
                language = default
                counters["default_language_used"] += 1
            ref = self._reference(language)
            d = divergence(tokenize(text, ref.language), ref) if ref is not None and text else None
            if d is None:
                counters["unscored_language" if ref is None else "no_tokens"] += 1
                kls.append(None)
                excesses.append(None)
                oovs.append(None)
                keep.append(True)
                reasons.append(None)
                details.append(None)
                continue
            counters[f"scored_{ref.language}"] += 1
            kls.append(d.kl)
            excesses.append(d.excess)
            oovs.append(d.oov_frac)
            fired = []
            if d.tokens < p.min_tokens:
                counters["too_short_to_judge"] += 1
            else:
                limit = p.max_excess_by_language.get(language, p.max_excess)
                if limit is not None and d.excess > limit:
                    fired.append(("excess", f"excess={d.excess:.2f}>{limit:.2f} kl={d.kl:.2f} tokens={d.tokens} lang={language}"))
                if p.max_kl is not None and d.kl > p.max_kl:
                    fired.append(("kl", f"kl={d.kl:.2f}>{p.max_kl:.2f} tokens={d.tokens} lang={language}"))
            for rule, _ in fired:
                counters[f"would_reject_token_kl_{rule}"] += 1
            keep.append(not fired)
            reasons.append("token_kl" if fired else None)
            details.append(fired[0][1] if fired else None)
        batch = set_column(batch, "token_kl", pa.array(kls, pa.float32()))
        batch = set_column(batch, "token_kl_excess", pa.array(excesses, pa.float32()))
        batch = set_column(batch, "token_kl_oov_frac", pa.array(oovs, pa.float32()))
        histograms = self.histogram_counts(batch)
        kept, rejected = self.split(batch, keep, reasons, details)
        return StageOutput(kept, rejected, {k: float(v) for k, v in counters.items()}, histograms)
