"""The default sample corpus: seeded, realistic WARC files with a ground-truth sidecar.

Pages carry navigation/header/footer boilerplate around an article; there are several
languages, code and math pages, spam and thin pages, exact and near duplicates, re-fetched URLs,
lines repeated across many pages (for line-level dedup), non-HTML responses and planted fake
PII. ``ground_truth.jsonl`` says, per record, what was planted, so every stage can be scored.
Same seed => byte-identical files.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import random
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from faker import Faker
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from curate.schema import document_id

LANGUAGES = [("en", "en_US", 0.80), ("de", "de_DE", 0.04), ("fr", "fr_FR", 0.04), ("es", "es_ES", 0.03),
             ("it", "it_IT", 0.02), ("nl", "nl_NL", 0.02), ("pl", "pl_PL", 0.015), ("ru", "ru_RU", 0.015),
             ("ja", "ja_JP", 0.01), ("zh", "zh_CN", 0.01)]
CATEGORIES = [("general", 0.50), ("news", 0.12), ("code", 0.10), ("math", 0.08), ("spam", 0.08),
              ("boilerplate_only", 0.06), ("non_html", 0.02), ("short", 0.04)]
REPEATED_LINES = ["Subscribe to our newsletter for weekly updates.", "All rights reserved.",
                  "Share this article on social media.", "Click here to read more stories like this.",
                  "Advertisement", "Related posts you might enjoy:"]
DIRTY_WORDS = ["xxx", "porn", "nude", "camgirls", "hotsex", "escort"]
SITES = ["example-news.com", "dailyreader.org", "techblog.io", "mathworld-notes.net", "cookingcorner.com",
         "travelnotes.de", "devdocs.example.org", "science-daily.example", "forum.example.net", "shopdeals.example"]
CODE_SNIPPETS = [
    "def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
    "function debounce(fn, ms) {\n  let timer;\n  return (...args) => {\n    clearTimeout(timer);\n    timer = setTimeout(() => fn(...args), ms);\n  };\n}\n",
    "#include <stdio.h>\n\nint main(void) {\n    for (int i = 0; i < 10; i++) {\n        printf(\"%d\\n\", i * i);\n    }\n    return 0;\n}\n",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n        self.items.append(item)\n\n    def pop(self):\n        return self.items.pop()\n",
]
FORMULAS = [("x^2 + y^2 = z^2", "<msup><mi>x</mi><mn>2</mn></msup><mo>+</mo><msup><mi>y</mi><mn>2</mn></msup>"),
            ("\\int_0^1 x\\,dx = \\frac{1}{2}", "<mi>∫</mi><mi>x</mi><mi>d</mi><mi>x</mi>"),
            ("e^{i\\pi} + 1 = 0", "<msup><mi>e</mi><mrow><mi>i</mi><mi>π</mi></mrow></msup><mo>+</mo><mn>1</mn>")]


@dataclass
class SampleCorpus:
    root: Path
    warc_files: list[Path]
    ground_truth: Path
    records: int
    counts: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.records} records in {len(self.warc_files)} WARC files; " + ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))


def _pick(rng: random.Random, weighted):
    return rng.choices([w[0] for w in weighted], weights=[w[-1] for w in weighted])[0]


def _shingles(words, n=5):
    return {" ".join(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}


def _edit(rng: random.Random, text: str, fraction: float) -> str:
    words = text.split(" ")
    for _ in range(max(1, int(len(words) * fraction))):
        i = rng.randrange(len(words))
        op = rng.random()
        if op < 0.34 and len(words) > 2:
            del words[i]
        elif op < 0.67:
            words.insert(i, rng.choice(words))
        else:
            j = rng.randrange(len(words))
            words[i], words[j] = words[j], words[i]
    return " ".join(words)


class _PageMaker:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.fakers = {}
        for code, locale, _ in LANGUAGES:
            f = Faker(locale)
            f.seed_instance(seed)
            self.fakers[code] = f

    def paragraphs(self, lang: str, n: int) -> list[str]:
        f = self.fakers[lang]
        return [f.paragraph(nb_sentences=self.rng.randint(4, 9)) for _ in range(n)]

    def pii(self) -> list[dict]:
        f = self.fakers["en"]
        kinds = {
            "email": f.email, "phone": lambda: f"+1 {f.numerify('###-###-####')}", "ipv4": f.ipv4_public,
            "ipv6": f.ipv6, "card": lambda: f.credit_card_number(card_type="visa16"), "iban": f.iban, "ssn": f.ssn,
            "secret": lambda: "AKIA" + "".join(self.rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)),
        }
        chosen = self.rng.sample(sorted(kinds), self.rng.randint(1, 3))
        return [{"type": k, "value": kinds[k]()} for k in chosen]

    def html(self, title: str, body_html: str, lang: str, site: str) -> str:
        nav = "".join(f'<li><a href="/section/{i}">Section {i}</a></li>' for i in range(1, 11))
        return (
            f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title} | {site}</title></head><body>'
            f'<header><div class="logo">{site}</div><nav><ul>{nav}</ul></nav></header>'
            f'<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies.</div>'
            f'<aside class="sidebar"><h3>Popular</h3><ul><li><a href="/p/1">Top ten tips</a></li><li><a href="/p/2">Weekly digest</a></li></ul></aside>'
            f"<main><article><h1>{title}</h1>{body_html}</article></main>"
            f'<footer><p>Copyright 2024 {site}. Contact | Privacy policy | Terms of use</p></footer></body></html>'
        )


def generate_sample_corpus(out_dir: Path, *, seed: int = 0, pages: int = 10000, pages_per_warc: int = 1000) -> SampleCorpus:
    out_dir = Path(out_dir)
    (out_dir / "warc").mkdir(parents=True, exist_ok=True)
    maker = _PageMaker(seed)
    rng = maker.rng
    base_time = dt.datetime(2023, 1, 1, tzinfo=dt.timezone.utc)
    originals: list[dict] = []
    substantial: list[dict] = []  # originals long enough that 5-gram similarity is meaningful
    entries: list[dict] = []

    for n in range(pages):
        truth = {"exact_dup_of": None, "near_dup_cluster": None, "near_dup_edit_fraction": None, "near_dup_jaccard": None,
                 "url_refetch_of": None, "planted_pii": [], "defects": []}
        roll = rng.random()
        if originals and roll < 0.05:  # exact duplicate: same text, new URL and boilerplate
            src = rng.choice(originals)
            entry = {**src, "url": f"https://{rng.choice(SITES)}/mirror/{n}",
                     "truth": {**truth, "exact_dup_of": src["key"], "planted_pii": src["truth"]["planted_pii"], "defects": src["truth"]["defects"]}}
        elif substantial and roll < 0.10:  # near duplicate with a known edit fraction
            src = rng.choice(substantial)
            frac = rng.choice([0.02, 0.05, 0.1, 0.3])
            text = _edit(rng, src["text"], frac)
            a, b = _shingles(src["text"].split()), _shingles(text.split())
            entry = {**src, "text": text, "url": f"https://{rng.choice(SITES)}/copy/{n}",
                     "truth": {**truth, "near_dup_cluster": src["key"], "near_dup_edit_fraction": frac, "near_dup_jaccard": round(len(a & b) / len(a | b), 4),
                               # Edits can split a planted value; record only what survived intact.
                               "planted_pii": [p for p in src["truth"]["planted_pii"] if p["value"] in text], "defects": src["truth"]["defects"]}}
        elif originals and roll < 0.13:  # the same URL fetched again later, slightly changed
            src = rng.choice(originals)
            url = src["url"]
            # Spellings of the same URL that a URL normaliser must fold together (crawlers
            # write the scheme in lower case; WARC readers rely on it).
            upper_host = re.sub(r"^https://([^/]+)", lambda m: "https://" + m.group(1).upper() + ":443", url)
            variant = rng.choice([url, url + "?utm_source=newsletter", url + "#comments", url + "/", upper_host])
            entry = {**src, "text": src["text"] + " " + maker.paragraphs(src["lang"], 1)[0], "url": variant, "refetch": True,
                     "truth": {**truth, "url_refetch_of": src["key"], "planted_pii": src["truth"]["planted_pii"], "defects": src["truth"]["defects"]}}
        else:
            lang = _pick(rng, LANGUAGES) if rng.random() < 0.9 else "en"
            category = _pick(rng, CATEGORIES)
            if lang != "en" and category in ("code", "math", "spam"):
                category = "general"
            site = rng.choice(SITES)
            paras = maker.paragraphs(lang, rng.randint(3, 10))
            title = maker.fakers[lang].sentence(nb_words=6).rstrip(".")
            extra_html, defects = "", []
            if category == "code":
                snippet = rng.choice(CODE_SNIPPETS)
                extra_html = f"<pre><code>{snippet.replace('<', '&lt;').replace('>', '&gt;')}</code></pre>"
            elif category == "math":
                tex, mml = rng.choice(FORMULAS)
                extra_html = f'<p>The identity <math alttext="{tex}"><semantics><mrow>{mml}</mrow><annotation encoding="application/x-tex">{tex}</annotation></semantics></math> holds, and inline we write ${tex}$.</p>'
            elif category == "spam":
                stuffed = " ".join(rng.choice(DIRTY_WORDS + ["cheap", "free", "click", "deal"]) for _ in range(60))
                paras = [stuffed] + ["Buy now! Best deals! Click here!"] * 8
                defects += ["dirty_words", "repeated_lines"]
            elif category == "boilerplate_only":
                paras = ["Home"]
                defects.append("boilerplate_heavy")
            elif category == "short":
                paras = [maker.fakers[lang].sentence(nb_words=5)]
                defects.append("short")
            if category in ("general", "news") and rng.random() < 0.05:
                paras.append("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.")
                defects.append("lorem_ipsum")
            if rng.random() < 0.3:
                paras.insert(rng.randrange(len(paras) + 1), rng.choice(REPEATED_LINES))
            pii = maker.pii() if rng.random() < 0.15 and category != "non_html" else []
            if pii:
                paras.append("Contact: " + "; ".join(p["value"] for p in pii))
            entry = {"key": None, "lang": lang, "category": category, "site": site, "title": title, "text": "\n".join(paras),
                     "extra_html": extra_html, "url": f"https://{site}/{category}/{n}-{rng.randrange(10**6)}",
                     "truth": {**truth, "planted_pii": pii, "defects": defects}}
        entry["time"] = base_time + dt.timedelta(seconds=rng.randrange(3 * 365 * 86400))
        if entry.get("refetch"):
            entry["time"] = max(entry["time"], originals[[o["key"] for o in originals].index(entry["truth"]["url_refetch_of"])]["time"] + dt.timedelta(days=30))
        entry["record_id"] = f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"
        entries.append(entry)
        if entry["truth"]["exact_dup_of"] is None and entry["truth"]["near_dup_cluster"] is None and not entry.get("refetch") and entry["category"] not in ("non_html",):
            entry["key"] = entry["record_id"]
            originals.append(entry)
            if len(entry["text"].split()) >= 80:
                substantial.append(entry)

    warc_files, counts, truth_lines = [], Counter(), []
    for start in range(0, len(entries), pages_per_warc):
        name = f"warc/sample-{start // pages_per_warc:05d}.warc.gz"
        buffer = io.BytesIO()
        writer = WARCWriter(buffer, gzip=True)
        for entry in entries[start:start + pages_per_warc]:
            offset = buffer.tell()
            if entry["category"] == "non_html":
                payload, ctype = hashlib.sha256(entry["record_id"].encode()).digest() * 64, "image/png"
                main_text = None
            else:
                body = "".join(f"<p>{p}</p>" for p in entry["text"].split("\n")) + entry.get("extra_html", "")
                payload = maker.html(entry["title"], body, entry["lang"], entry["site"]).encode("utf-8")
                ctype, main_text = "text/html; charset=utf-8", entry["text"]
            http = StatusAndHeaders("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(payload)))], protocol="HTTP/1.1")
            record = writer.create_warc_record(
                entry["url"], "response", payload=io.BytesIO(payload), http_headers=http,
                warc_headers_dict={"WARC-Record-ID": entry["record_id"], "WARC-Date": entry["time"].strftime("%Y-%m-%dT%H:%M:%SZ")},
            )
            writer.write_record(record)
            counts[entry["category"]] += 1
            for kind in ("exact_dup_of", "near_dup_cluster", "url_refetch_of"):
                counts[kind] += entry["truth"][kind] is not None
            # Ids as the readers compute them for corpus = <out_dir>/warc (source relative to it).
            source = name.split("/", 1)[1]
            truth_lines.append({"id": document_id(source, offset), "source": source, "offset": offset, "warc_record_id": entry["record_id"],
                                "url": entry["url"], "language": entry["lang"], "category": entry["category"], **entry["truth"], "main_text": main_text})
        path = out_dir / name
        path.write_bytes(buffer.getvalue())
        warc_files.append(path)

    # Duplicates refer to the original's document id, not its record id.
    by_record = {t["warc_record_id"]: t["id"] for t in truth_lines}
    for t in truth_lines:
        for kind in ("exact_dup_of", "near_dup_cluster", "url_refetch_of"):
            if t[kind] is not None:
                t[kind] = by_record[t[kind]]
    ground_truth = out_dir / "ground_truth.jsonl"
    ground_truth.write_text("".join(json.dumps(t, ensure_ascii=False, sort_keys=True) + "\n" for t in truth_lines), encoding="utf-8")
    (out_dir / "README.md").write_text(
        f"# curate sample corpus\n\nGenerated by `curate sample` with seed {seed}: {len(entries)} response records in "
        f"{len(warc_files)} WARC files. Synthetic text (Faker word lists) and fake PII; `ground_truth.jsonl` lists what "
        f"was planted in each record.\n\nCounts: {dict(sorted(counts.items()))}\n", encoding="utf-8")
    return SampleCorpus(root=out_dir, warc_files=warc_files, ground_truth=ground_truth, records=len(entries), counts=dict(counts))
