"""What a generated corpus holds, its ground truth, and the Jaccard the ground truth records."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from curate.sample.constants import SHINGLE_WORDS


@dataclass
class SampleCorpus:
    """What ``generate_sample_corpus`` wrote: paths and counts."""

    root: Path
    warc_files: list[Path]
    ground_truth: Path
    readme: Path
    seed: int
    records: int  # response records = documents the readers see (HTML and non-HTML)
    categories: dict[str, int] = field(default_factory=dict)
    languages: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)  # exact_dup / near_dup / url_refetch copies
    pii_documents: int = 0
    defects: dict[str, int] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        return {**self.categories, **self.duplicates}

    def __str__(self) -> str:
        cats = ", ".join(f"{k}={v}" for k, v in self.categories.items())
        dups = ", ".join(f"{k}={v}" for k, v in self.duplicates.items())
        return (f"{self.records} records in {len(self.warc_files)} WARC files (seed {self.seed}); {cats}; {dups}; "
                f"non-English={sum(v for k, v in self.languages.items() if k not in ('en', 'none'))}; pii_documents={self.pii_documents}")


def read_ground_truth(root: Path) -> list[dict]:
    """The ground-truth rows of a generated corpus, in file order."""
    path = Path(root) / "ground_truth.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def word_shingles(text: str, n: int = SHINGLE_WORDS) -> set[str]:
    """Lower-cased whitespace-word n-grams (a text of <= n words is one shingle), as the dedup stages use."""
    words = text.lower().split()
    if len(words) <= n:
        return {" ".join(words)}
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: str, b: str, n: int = SHINGLE_WORDS) -> float:
    sa, sb = word_shingles(a, n), word_shingles(b, n)
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0

