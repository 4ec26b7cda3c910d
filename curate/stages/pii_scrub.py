"""Scrub personally identifiable information: validated detectors, typed placeholders, counts.

Every document's text (and URL) is searched by the rule detectors in ``curate.pii.detectors``
(e-mail, phone, IP, payment card, IBAN, US SSN, secrets) and, when ``ner_model`` names a Hugging
Face token-classification model, for names and street addresses too. Each span is replaced by a
typed placeholder (``<EMAIL>``) or a consistent per-document surrogate; the document gets a
``pii_counts`` column (occurrences per type), and the card sums them. Documents from sites listed
in the PII domain blocklist are rejected whole (``pii_domain``), as Llama 3 removed sites likely
to carry high volumes of personal data.

Nothing this stage emits contains what it found: counters are counts, a rejected document's
detail names the blocklist entry, and the PII values themselves exist only in the input.
"""
from __future__ import annotations

import fnmatch
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import phonenumbers
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from curate.contract import Resources, StageOutput, StageParams
from curate.pii.detectors import ADDRESS, ALL_TYPES, NAME, RULE_TYPES, DetectorOptions, find_pii, resolve_overlaps
from curate.pii.replace import replace_spans
from curate.stages.base import Stage

PII_COUNTS_TYPE = pa.struct([pa.field(t.lower(), pa.int32()) for t in ALL_TYPES])
BUILTIN_BLOCKLIST = "builtin"

# ccTLD -> phone region where they differ from the upper-cased TLD.
_TLD_REGION = {"uk": "GB", "su": "RU", "eu": None}
# Document language (ISO 639-1, the ``lang`` column of language ID) -> the region whose national
# formats its numbers most often use, as a hint for numbers written without a country code.
_LANG_REGION = {
    "de": "DE", "fr": "FR", "es": "ES", "it": "IT", "pt": "PT", "nl": "NL", "pl": "PL", "ru": "RU", "ja": "JP",
    "zh": "CN", "ko": "KR", "sv": "SE", "da": "DK", "nb": "NO", "no": "NO", "fi": "FI", "cs": "CZ", "tr": "TR",
    "el": "GR", "hu": "HU", "ro": "RO", "uk": "UA", "he": "IL", "ar": "SA", "hi": "IN", "th": "TH", "vi": "VN",
    "id": "ID",
}


class PiiScrubParams(StageParams):
    types: list[str] = Field(
        default=list(RULE_TYPES),
        description=f"rule detectors to run, any of {', '.join(RULE_TYPES)}",
    )
    replacement: Literal["placeholder", "surrogate"] = Field(
        default="placeholder", description="<EMAIL>-style placeholders, or consistent reserved fakes per document"
    )
    scrub_url: bool = Field(default=True, description="also scrub the url column (credentials, e-mails in query strings)")
    include_private_ips: bool = Field(default=False, description="also replace private, loopback and reserved addresses")
    skip_version_ips: bool = Field(default=True, description='leave "version 1.2.3.4"-style dotted quads alone')
    default_regions: list[str] = Field(default=["US"], description="phone regions (ISO 3166) tried for numbers without a country code")
    region_hints: bool = Field(default=True, description="add the URL's ccTLD and the lang column's region to default_regions")
    ssn_bare_with_context: bool = Field(default=True, description='9 digits without dashes are an SSN only after "SSN"/"social security"')
    domain_blocklist: str | None = Field(
        default=BUILTIN_BLOCKLIST,
        description='file of blocked domains / URL globs ("builtin": the shipped list, empty by default; null: none)',
    )
    blocked_domains: list[str] = Field(default=[], description="more blocklist entries, inline")
    ner_model: str | None = Field(default=None, description="Hugging Face token-classification model (local path or hub id) for names/addresses")
    ner_labels: dict[str, str] = Field(
        default={"PER": NAME, "PERSON": NAME, "STREET_ADDRESS": ADDRESS, "ADDRESS": ADDRESS},
        description="model entity group -> NAME or ADDRESS",
    )
    ner_batch_size: int = Field(default=16, ge=1)
    ner_max_length: int = Field(default=512, ge=16, description="tokens per model window")
    ner_stride: int = Field(default=64, ge=0, description="tokens shared by consecutive windows of a long text")
    ner_min_score: float = Field(default=0.5, ge=0.0, le=1.0)
    ner_num_gpus: float = Field(default=0.0, ge=0.0, description="GPUs per NER actor (0: CPU)")

    @field_validator("types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(RULE_TYPES))
        if unknown:
            raise ValueError(f"unknown PII type(s) {unknown}; known: {list(RULE_TYPES)}")
        return value

    @field_validator("default_regions")
    @classmethod
    def _known_regions(cls, value: list[str]) -> list[str]:
        unknown = sorted(r for r in value if r not in phonenumbers.SUPPORTED_REGIONS)
        if unknown:
            raise ValueError(f"unknown phone region(s) {unknown}: use ISO 3166 alpha-2 codes such as 'US', 'GB', 'DE'")
        return value

    @field_validator("ner_labels")
    @classmethod
    def _known_ner_types(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(v for v in value.values() if v not in (NAME, ADDRESS))
        if bad:
            raise ValueError(f"ner_labels map to {bad}; the NER types are {NAME} and {ADDRESS}")
        return value

    @model_validator(mode="after")
    def _stride_fits(self):
        if self.ner_stride >= self.ner_max_length - 2:
            raise ValueError(f"ner_stride ({self.ner_stride}) must be below ner_max_length - 2 ({self.ner_max_length - 2})")
        return self

    @model_validator(mode="after")
    def _blocklist_readable(self):
        if self.domain_blocklist not in (None, BUILTIN_BLOCKLIST) and not Path(self.domain_blocklist).is_file():
            raise ValueError(f"domain_blocklist {self.domain_blocklist!r} is not a file")
        return self


def load_blocklist(path: str | None, extra: list[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    """(domains, URL globs). A line is a domain (matches it and its subdomains) unless it holds a
    ``/`` or ``*``, in which case it is a glob over the URL without its scheme. ``#`` starts a comment."""
    lines: list[str] = []
    if path == BUILTIN_BLOCKLIST:
        lines = resources.files("curate.data").joinpath("pii_domain_blocklist.txt").read_text(encoding="utf-8").splitlines()
    elif path is not None:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    domains, globs = set(), []
    for line in [*lines, *extra]:
        entry = line.split("#", 1)[0].strip().lower()
        if not entry:
            continue
        if "/" in entry or "*" in entry:
            globs.append(entry)
        else:
            domains.add(entry.strip("."))
    return frozenset(domains), tuple(globs)


def blocked_by(url: str | None, domains: frozenset[str], globs: tuple[str, ...]) -> str | None:
    """The blocklist entry ``url`` falls under, if any."""
    if not url or not (domains or globs):
        return None
    parts = urlsplit(url.strip().lower())
    host = (parts.hostname or "").strip(".")
    labels = host.split(".")
    for i in range(len(labels)):
        suffix = ".".join(labels[i:])
        if suffix in domains:
            return suffix
    without_scheme = url.strip().lower().split("://", 1)[-1]
    for pattern in globs:
        if fnmatch.fnmatchcase(without_scheme, pattern):
            return pattern
    return None


def url_region(url: str | None) -> str | None:
    if not url:
        return None
    host = urlsplit(url).hostname or ""
    tld = host.rsplit(".", 1)[-1].lower()
    if len(tld) != 2:
        return None
    region = _TLD_REGION.get(tld, tld.upper())
    return region if region in phonenumbers.SUPPORTED_REGIONS else None


class PiiScrub(Stage):
    name = "pii_scrub"
    version = "1"
    Params = PiiScrubParams
    writes = {"pii_counts": PII_COUNTS_TYPE}

    @classmethod
    def placement(cls, params: PiiScrubParams) -> Resources:
        # The rule detectors are plain tasks; a NER model is loaded once per actor.
        if params.ner_model:
            return Resources(True, cls.num_cpus, params.ner_num_gpus)
        return Resources(False, cls.num_cpus, 0.0)

    @classmethod
    def models(cls, params: PiiScrubParams) -> list[dict]:
        return [{"role": "pii_ner", "model": params.ner_model}] if params.ner_model else []

    def setup(self) -> None:
        p: PiiScrubParams = self.params
        self.options = DetectorOptions(
            types=frozenset(p.types),
            include_private_ips=p.include_private_ips,
            skip_version_ips=p.skip_version_ips,
            default_regions=tuple(p.default_regions),
            ssn_bare_with_context=p.ssn_bare_with_context,
        )
        self.blocked_domains, self.blocked_globs = load_blocklist(p.domain_blocklist, p.blocked_domains)
        self.ner = None
        if p.ner_model:
            from curate.pii.ner import NerDetector  # torch/transformers only where a model runs

            self.ner = NerDetector(
                p.ner_model, p.ner_labels, batch_size=p.ner_batch_size, max_length=p.ner_max_length,
                stride=p.ner_stride, min_score=p.ner_min_score,
                # One thread count per worker, so the model's last bits never depend on the host's cores.
                torch_threads=max(1, int(self.num_cpus)),
            )

    def _regions(self, url: str | None, lang: str | None) -> tuple[str, ...]:
        if not self.params.region_hints:
            return ()
        hints = [url_region(url), _LANG_REGION.get((lang or "").split("_")[0].lower())]
        return tuple(h for h in hints if h)

    def process(self, batch: pa.Table) -> StageOutput:
        p: PiiScrubParams = self.params
        n = batch.num_rows
        texts = batch.column("text").to_pylist()
        urls = batch.column("url").to_pylist() if "url" in batch.column_names else [None] * n
        langs = batch.column("lang").to_pylist() if "lang" in batch.column_names else [None] * n

        keep, reasons, details = [True] * n, [None] * n, [None] * n
        for i, url in enumerate(urls):
            entry = blocked_by(url, self.blocked_domains, self.blocked_globs)
            if entry is not None:
                keep[i], reasons[i], details[i] = False, "pii_domain", f"blocklist={entry}"

        live = [i for i in range(n) if keep[i]]
        ner_spans = self.ner.detect([texts[i] or "" for i in live]) if self.ner is not None else [[] for _ in live]
        new_texts, new_urls = list(texts), list(urls)
        counts_rows = [dict.fromkeys((t.lower() for t in ALL_TYPES), 0) for _ in range(n)]
        totals: Counter = Counter()
        documents_with: Counter = Counter()
        scanned_chars = 0
        for i, extra in zip(live, ner_spans, strict=True):
            text = texts[i] or ""
            scanned_chars += len(text)
            spans = find_pii(text, self.options, self._regions(urls[i], langs[i]))
            if extra:
                spans = resolve_overlaps([*spans, *extra])
            counts = Counter()
            if spans:
                new_texts[i], counts = replace_spans(text, spans, p.replacement)
            if p.scrub_url and urls[i]:
                url_spans = find_pii(urls[i], self.options)
                if url_spans:
                    new_urls[i], url_counts = replace_spans(urls[i], url_spans, "placeholder")
                    counts += url_counts
            for kind, k in counts.items():
                counts_rows[i][kind.lower()] = k
                totals[kind] += k
                documents_with[kind] += 1
            if counts:
                totals["_documents"] += 1

        columns = {name: batch.column(name) for name in batch.column_names}
        columns["text"] = pa.array(new_texts, type=pa.string())
        if "url" in columns:
            columns["url"] = pa.array(new_urls, type=batch.schema.field("url").type)
        columns["pii_counts"] = pa.array(counts_rows, type=PII_COUNTS_TYPE)
        scrubbed = pa.table(columns)
        kept, rejected = self.split(scrubbed, keep, reasons, details)
        counters = {"pii_documents": float(totals.pop("_documents", 0)), "chars_scanned": float(scanned_chars)}
        for kind in ALL_TYPES:
            if kind in self.options.types or (self.ner is not None and kind in (NAME, ADDRESS)):
                counters[f"pii_{kind.lower()}"] = float(totals[kind])
                counters[f"pii_documents_{kind.lower()}"] = float(documents_with[kind])
        return StageOutput(kept=kept, rejected=rejected, counters=counters)
