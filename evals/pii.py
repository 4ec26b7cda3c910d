"""Score PII detection against labelled spans (presidio-research's format).

A sample is ``{"full_text", "spans": [{"entity_type", "start_position", "end_position"}]}``. Per
type: a gold span is *found* when a predicted span of the same type overlaps at least half of it
(recall); a predicted span is *correct* when it overlaps a gold span of its type by at least half
of the shorter of the two (precision). Predictions that land on gold PII of another type (a driver
licence read as a phone) are counted separately: they are scrubbed PII, but not the type claimed.
Over-redaction is measured on samples without any gold span.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from curate.pii.detectors import CARD, EMAIL, IBAN, IP, PHONE, SSN, Span

# presidio label -> our type (labels not listed are types the rule detectors do not claim).
GOLD_TYPES = {
    "EMAIL_ADDRESS": EMAIL,
    "PHONE_NUMBER": PHONE,
    "IP_ADDRESS": IP,
    "CREDIT_CARD": CARD,
    "IBAN_CODE": IBAN,
    "US_SSN": SSN,
    "PERSON": "NAME",
    "STREET_ADDRESS": "ADDRESS",
    "ADDRESS": "ADDRESS",
}


def load_samples(paths: Iterable[Path]) -> list[dict]:
    samples = []
    for path in paths:
        samples += json.loads(Path(path).read_text(encoding="utf-8"))
    return samples


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def score(samples: list[dict], detect: Callable[[str], list[Span]], types: Iterable[str]) -> dict:
    """Per-type precision/recall, over-redaction on PII-free samples, and the misses (for tuning)."""
    types = tuple(types)
    gold_n, found, pred_n, correct, cross = Counter(), Counter(), Counter(), Counter(), Counter()
    misses: dict[str, list[str]] = {t: [] for t in types}
    false_positives: dict[str, list[str]] = {t: [] for t in types}
    negatives = negatives_flagged = negative_chars = negative_chars_masked = 0
    for sample in samples:
        text = sample["full_text"]
        gold = [(s["start_position"], s["end_position"], GOLD_TYPES.get(s["entity_type"], s["entity_type"])) for s in sample["spans"]]
        predicted = detect(text)
        for g in gold:
            if g[2] not in types:
                continue
            gold_n[g[2]] += 1
            if any(p[2] == g[2] and 2 * _overlap(p, g) >= g[1] - g[0] for p in predicted):
                found[g[2]] += 1
            else:
                misses[g[2]].append(text[g[0]:g[1]])
        for p in predicted:
            if p[2] not in types:
                continue
            pred_n[p[2]] += 1
            if any(g[2] == p[2] and 2 * _overlap(p, g) >= min(p[1] - p[0], g[1] - g[0]) for g in gold):
                correct[p[2]] += 1
            else:
                if any(_overlap(p, g) for g in gold):
                    cross[p[2]] += 1
                false_positives[p[2]].append(text[max(0, p[0] - 20):p[1] + 10])
        if not gold:
            negatives += 1
            negative_chars += len(text)
            negatives_flagged += bool(predicted)
            negative_chars_masked += sum(p[1] - p[0] for p in predicted)
    per_type = {
        t: {
            "gold": gold_n[t],
            "found": found[t],
            "recall": found[t] / gold_n[t] if gold_n[t] else None,
            "predicted": pred_n[t],
            "correct": correct[t],
            "precision": correct[t] / pred_n[t] if pred_n[t] else None,
            "other_pii": cross[t],
        }
        for t in types
    }
    return {
        "per_type": per_type,
        "negatives": negatives,
        "over_redacted_samples": negatives_flagged,
        "over_redaction_rate": negatives_flagged / negatives if negatives else 0.0,
        "over_redacted_char_rate": negative_chars_masked / negative_chars if negative_chars else 0.0,
        "misses": misses,
        "false_positives": false_positives,
    }
