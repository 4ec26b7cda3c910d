"""The generated sample corpus: deterministic, joinable with the readers, every planted kind present and true."""
import gzip
import hashlib
import html
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from curate.readers import list_inputs, read_file
from curate.sample import CATEGORY_NAMES, DEFECTS, NEAR_EDIT_FRACTIONS, PII_TYPES, generate_sample_corpus, read_ground_truth
from curate.schema import document_id
from curate.stages.url_dedup import normalize_url

SEED, PAGES, PER_WARC = 3, 300, 120
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return generate_sample_corpus(tmp_path_factory.mktemp("sample"), seed=SEED, pages=PAGES, pages_per_warc=PER_WARC)


@pytest.fixture(scope="module")
def truth(corpus):
    return read_ground_truth(corpus.root)


@pytest.fixture(scope="module")
def pages(corpus, truth):
    """id -> the response record's decoded payload (HTML pages) or raw bytes (others)."""
    out = {}
    for t in truth:
        with open(corpus.root / t["file"], "rb") as fh:
            fh.seek(t["offset"])
            payload = next(iter(ArchiveIterator(fh))).content_stream().read()
        out[t["id"]] = payload.decode(t["charset"]) if t["category"] != "non_html" else payload
    return out


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _words(text: str) -> list[str]:
    return text.lower().split()


def _shingles(text: str, n: int = 5) -> set[str]:
    w = _words(text)
    return {" ".join(w)} if len(w) <= n else {" ".join(w[i:i + n]) for i in range(len(w) - n + 1)}


def _families(truth) -> dict[str, str]:
    """id -> id of the original it was planted from (itself for originals)."""
    return {t["id"]: t["exact_dup_of"] or t["near_dup_of"] or t["url_refetch_of"] or t["id"] for t in truth}


def test_same_seed_same_bytes(corpus, tmp_path):
    expected = _digest(corpus.root)
    again = generate_sample_corpus(tmp_path / "again", seed=SEED, pages=PAGES, pages_per_warc=PER_WARC)
    assert _digest(again.root) == expected
    # Another process with another string-hash seed: nothing may depend on set or dict hashing.
    code = ("import sys; from pathlib import Path; from curate.sample import generate_sample_corpus; "
            f"generate_sample_corpus(Path(sys.argv[1]), seed={SEED}, pages={PAGES}, pages_per_warc={PER_WARC})")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "proc")], check=True, env=env, cwd=REPO)
    assert _digest(tmp_path / "proc") == expected
    other = generate_sample_corpus(tmp_path / "other", seed=SEED + 1, pages=PAGES, pages_per_warc=PER_WARC)
    assert other.warc_files[0].read_bytes() != corpus.warc_files[0].read_bytes()


def test_warc_layout(corpus, truth):
    assert [p.name for p in corpus.warc_files] == [f"sample-{i:05d}.warc.gz" for i in range(3)]
    responses = 0
    for path in corpus.warc_files:
        data = path.read_bytes()
        with open(path, "rb") as fh:
            records = [(r.rec_type, r.rec_headers, r.http_headers) for r in ArchiveIterator(fh)]
        assert records[0][0] == "warcinfo"
        body = records[1:]
        assert [r[0] for r in body] == ["request", "response"] * (len(body) // 2)
        for (_, req, req_http), (_, resp, http) in zip(body[0::2], body[1::2], strict=True):
            assert req.get_header("WARC-Concurrent-To") == resp.get_header("WARC-Record-ID")
            assert req.get_header("WARC-Target-URI") == resp.get_header("WARC-Target-URI")
            assert req_http.protocol == "GET"
            assert "2023-01-01" <= resp.get_header("WARC-Date") <= "2025-12-31T23:59:59Z"
            assert http.get_statuscode() == "200" and http.get_header("Content-Type")
            assert resp.get_header("WARC-Target-URI").startswith(("http://", "https://"))
        responses += len(body) // 2
        # One gzip member per record, each with mtime 0: the bytes depend on the seed only.
        for t in (t for t in truth if t["file"] == f"warc/{path.name}"):
            assert data[t["offset"]:t["offset"] + 3] == b"\x1f\x8b\x08" and data[t["offset"] + 4:t["offset"] + 8] == b"\0\0\0\0"
        assert gzip.decompress(data).startswith(b"WARC/1.0")
    assert responses == corpus.records == len(truth) == PAGES


def test_ground_truth_ids_join_with_the_readers(corpus, truth):
    by_id = {t["id"]: t for t in truth}
    assert len(by_id) == len(truth)
    seen = Counter()
    for f in list_inputs(str(corpus.root / "warc")):
        for out in read_file(f):
            for row in out.kept.select(["id", "source", "warc_record_id", "url", "fetch_time"]).to_pylist():
                t = by_id[row["id"]]
                assert (row["source"], row["warc_record_id"], row["url"]) == (t["source"], t["warc_record_id"], t["url"])
                assert row["fetch_time"].strftime("%Y-%m-%dT%H:%M:%SZ") == t["fetch_time"]
                seen["kept"] += 1
            for row in out.rejected.to_pylist():
                assert by_id[row["id"]]["category"] == "non_html" and row["reason"] == "non_html_payload"
                seen["rejected"] += 1
    assert seen["kept"] + seen["rejected"] == PAGES
    assert seen["rejected"] == sum(t["category"] == "non_html" for t in truth)


def test_offsets_point_at_their_records(corpus, truth):
    for t in truth:
        assert t["file"] == f"warc/{t['source']}"
        assert t["id"] == document_id(t["source"], t["offset"])
        with open(corpus.root / t["file"], "rb") as fh:
            fh.seek(t["offset"])
            record = next(iter(ArchiveIterator(fh)))
        assert record.rec_type == "response"
        assert record.rec_headers.get_header("WARC-Record-ID") == t["warc_record_id"]
        assert record.rec_headers.get_header("WARC-Target-URI") == t["url"]


def test_every_planted_kind_is_present(corpus, truth):
    categories = Counter(t["category"] for t in truth)
    assert set(categories) == set(CATEGORY_NAMES) and corpus.categories == dict(categories)
    assert sum(t["exact_dup_of"] is not None for t in truth) >= 5
    assert sum(t["near_dup_of"] is not None for t in truth) >= 5
    assert sum(t["url_refetch_of"] is not None for t in truth) >= 3
    languages = Counter(t["language"] for t in truth if t["language"])
    assert len(languages) >= 9
    non_english = sum(v for k, v in languages.items() if k != "en") / sum(languages.values())
    assert 0.12 <= non_english <= 0.30
    assert {p["type"] for t in truth for p in t["planted_pii"]} == set(PII_TYPES)
    assert {d for t in truth for d in t["defects"]} == set(DEFECTS)
    with_pii = sum(bool(t["planted_pii"]) for t in truth) / len(truth)
    assert 0.08 <= with_pii <= 0.25
    readme = corpus.readme.read_text()
    assert f"seed {SEED}" in readme and "| general |" in readme


def test_html_pages_have_boilerplate_around_the_gold_text(truth, pages):
    for t in truth:
        if t["category"] == "non_html":
            continue
        page = pages[t["id"]]
        assert "<title>" in page and re.search(r'<meta[^>]+charset', page), t["id"]
        nav = re.search(r"<nav\b.*?</nav>", page, re.S)
        assert nav and len(re.findall(r"<a ", nav.group(0))) >= 5, t["id"]
        assert "footer" in page and "&copy;" in page and "cookie" in page.lower()
        visible = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
        for line in t["main_text"].split("\n"):
            assert " ".join(line.split()) in visible, (t["id"], line)
        if t["category"] in ("general", "news"):
            assert 150 <= t["words"] <= 2500 or t["language"] in ("ja", "zh"), t["id"]
        if t["category"] == "code":
            assert "<pre><code" in page
        if t["category"] == "math":
            assert "<math" in page and "alttext=" in page and "$" in t["main_text"]


def test_languages_look_like_their_language(truth):
    markers = {"de": r"\b(der|die|das|und|den)\b", "fr": r"\b(le|la|et|que|dans)\b", "es": r"\b(el|la|y|en|que)\b",
               "it": r"\b(il|la|e|che|per)\b", "pt": r"\b(o|a|e|em|que)\b", "nl": r"\b(de|het|en|van|dat)\b",
               "pl": r"\b(w|i|że|na|się)\b|[ąęłśżźćń]", "ru": r"[а-яё]", "ja": r"[ぁ-んァ-ン]", "zh": r"[一-鿿]",
               "en": r"\b(the|and|of|to|a)\b"}
    for t in truth:
        if t["language"] and t["category"] in ("general", "news"):
            assert re.search(markers[t["language"]], t["main_text"].lower()), (t["language"], t["main_text"][:80])
    zh = [t for t in truth if t["language"] == "zh"]
    assert all(not re.search(r"[ぁ-んァ-ン]", t["main_text"]) for t in zh)


def test_exact_duplicates_are_the_same_text_elsewhere_and_unplanted_ones_do_not_exist(truth):
    by_id = {t["id"]: t for t in truth}
    copies = [t for t in truth if t["exact_dup_of"]]
    assert copies
    for t in copies:
        original = by_id[t["exact_dup_of"]]
        assert t["main_text"] == original["main_text"] and t["title"] == original["title"]
        assert normalize_url(t["url"]) != normalize_url(original["url"])
        assert original["exact_dup_of"] is None
    # Every group of identical texts is one planted family.
    family = _families(truth)
    groups = defaultdict(set)
    for t in truth:
        if t["main_text"] is not None:
            groups[" ".join(t["main_text"].split())].add(family[t["id"]])
    assert all(len(fams) == 1 for fams in groups.values())


def test_near_duplicate_clusters_have_measured_similarity(truth):
    by_id = {t["id"]: t for t in truth}
    copies = [t for t in truth if t["near_dup_of"]]
    assert copies
    sizes = Counter(t["near_dup_cluster"] for t in truth if t["near_dup_cluster"])
    assert all(2 <= n <= 5 for n in sizes.values())
    by_fraction = defaultdict(list)
    for t in copies:
        original = by_id[t["near_dup_of"]]
        assert t["near_dup_cluster"] == original["id"] == original["near_dup_cluster"]
        assert original["near_dup_edit_fraction"] == 0.0 and original["near_dup_jaccard"] == 1.0
        assert t["near_dup_edit_fraction"] in NEAR_EDIT_FRACTIONS
        a, b = _shingles(original["main_text"]), _shingles(t["main_text"])
        measured = len(a & b) / len(a | b)
        assert t["near_dup_jaccard"] == pytest.approx(measured, abs=1e-4)
        assert 0.0 < measured < 1.0
        by_fraction[t["near_dup_edit_fraction"]].append(measured)
    for fraction, values in by_fraction.items():
        if fraction <= 0.01:
            assert min(values) >= 0.75, (fraction, values)
        if fraction >= 0.1:
            assert max(values) < 0.75, (fraction, values)


def test_no_unplanted_near_duplicates(truth):
    """Pages from different planted families share few 5-grams (an inverted index over shingles)."""
    family = _families(truth)
    docs = [t for t in truth if t["main_text"] and t["words"] >= 50]
    shingles = {t["id"]: _shingles(t["main_text"]) for t in docs}
    index = defaultdict(list)
    for doc_id, sh in shingles.items():
        for s in sh:
            index[s].append(doc_id)
    shared = Counter()
    for ids in index.values():
        if 1 < len(ids) < 50:
            for i, a in enumerate(ids):
                for b in ids[i + 1:]:
                    shared[(a, b)] += 1
    worst = 0.0
    for (a, b), n in shared.items():
        if family[a] != family[b]:
            worst = max(worst, n / (len(shingles[a]) + len(shingles[b]) - n))
    assert worst < 0.5


def test_refetches_are_later_and_normalise_to_the_same_url(truth):
    by_id = {t["id"]: t for t in truth}
    refetches = [t for t in truth if t["url_refetch_of"]]
    assert refetches
    variants = 0
    for t in refetches:
        original = by_id[t["url_refetch_of"]]
        assert original["url_refetch_of"] is None
        assert normalize_url(t["url"]) == normalize_url(original["url"])
        variants += t["url"] != original["url"]
        assert t["fetch_time"] > original["fetch_time"]
        assert t["main_text"] != original["main_text"]
    assert variants >= 1
    # No two unrelated pages share a normalised URL.
    family = _families(truth)
    owner = {}
    for t in truth:
        key = normalize_url(t["url"])
        assert owner.setdefault(key, family[t["id"]]) == family[t["id"]], t["url"]


def _luhn(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()][::-1]
    return sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits)) % 10 == 0


def test_planted_pii_is_in_the_page_and_well_formed(truth, pages):
    planted = [(t, p) for t in truth for p in t["planted_pii"]]
    assert planted
    for t, p in planted:
        value = p["value"]
        assert value in pages[t["id"]] and value in t["main_text"], (t["id"], p["type"])
        if p["type"] == "card":
            assert _luhn(value) and 15 <= sum(c.isdigit() for c in value) <= 16
        elif p["type"] == "iban":
            compact = value.replace(" ", "")
            assert int("".join(str(int(c, 36)) for c in compact[4:] + compact[:4])) % 97 == 1
        elif p["type"] == "ssn":
            assert re.fullmatch(r"\d{3}-\d{2}-\d{4}", value)
        elif p["type"] == "email":
            assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", value)
        elif p["type"] == "secret":
            assert re.fullmatch(r"AKIA[A-Z2-7]{16}|ghp_[A-Za-z0-9]{36}|AIza[A-Za-z0-9_-]{35}|sk_live_[A-Za-z0-9]{24}", value)
        elif p["type"] == "phone":
            assert value.startswith("+") and sum(c.isdigit() for c in value) >= 9


def test_pool_lines_repeat_across_many_pages(truth):
    counts = Counter(line for t in truth for line in t["planted_lines"])
    assert counts and counts.most_common(1)[0][1] > 6
    for t in truth:
        lines = (t["main_text"] or "").split("\n")
        assert all(line in lines for line in t["planted_lines"])


def test_non_html_payloads(truth, pages):
    kinds = Counter()
    for t in truth:
        if t["category"] == "non_html":
            payload = pages[t["id"]]
            kinds[t["content_type"]] += 1
            assert t["main_text"] is None and t["language"] is None
            if t["content_type"] == "image/png":
                assert payload.startswith(b"\x89PNG\r\n\x1a\n")
            elif t["content_type"] == "application/pdf":
                assert payload.startswith(b"%PDF-1.4") and payload.rstrip().endswith(b"%%EOF")
        else:
            assert t["content_type"] == "text/html"
    assert kinds
