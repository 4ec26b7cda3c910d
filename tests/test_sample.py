"""The generated sample corpus: deterministic, joinable with the readers, every planted kind present."""
import json
from collections import Counter

import pytest
from warcio.archiveiterator import ArchiveIterator

from curate.readers import list_inputs, read_file
from curate.sample import generate_sample_corpus
from curate.schema import document_id


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    return generate_sample_corpus(root, seed=3, pages=400, pages_per_warc=150)


def _truth(corpus):
    return [json.loads(line) for line in corpus.ground_truth.read_text().splitlines()]


def test_same_seed_same_bytes(corpus, tmp_path):
    again = generate_sample_corpus(tmp_path, seed=3, pages=400, pages_per_warc=150)
    for a, b in zip(corpus.warc_files, again.warc_files):
        assert a.read_bytes() == b.read_bytes()
    assert corpus.ground_truth.read_bytes() == again.ground_truth.read_bytes()
    other = generate_sample_corpus(tmp_path / "other", seed=4, pages=400, pages_per_warc=150)
    assert other.warc_files[0].read_bytes() != corpus.warc_files[0].read_bytes()


def test_ground_truth_ids_join_with_the_readers(corpus):
    truth = {t["id"]: t for t in _truth(corpus)}
    assert len(truth) == corpus.records == 400
    seen = 0
    for f in list_inputs(str(corpus.root / "warc")):
        for out in read_file(f):
            for row in out.kept.select(["id", "warc_record_id", "url"]).to_pylist():
                assert truth[row["id"]]["warc_record_id"] == row["warc_record_id"]
                seen += 1
            for row in out.rejected.to_pylist():
                assert truth[row["id"]]["category"] == "non_html" and row["reason"] == "non_html_payload"
                seen += 1
    assert seen == 400


def test_offsets_point_at_their_records(corpus):
    for t in _truth(corpus)[:40]:
        path = corpus.root / "warc" / t["source"]
        with open(path, "rb") as fh:
            fh.seek(t["offset"])
            record = next(iter(ArchiveIterator(fh)))
            assert record.rec_headers.get_header("WARC-Record-ID") == t["warc_record_id"]
        assert t["id"] == document_id(t["source"], t["offset"])


def test_every_planted_kind_is_present(corpus):
    truth = _truth(corpus)
    categories = Counter(t["category"] for t in truth)
    for category in ("general", "news", "code", "math", "spam", "boilerplate_only", "short", "non_html"):
        assert categories[category] > 0, category
    assert sum(t["exact_dup_of"] is not None for t in truth) >= 5
    assert sum(t["near_dup_cluster"] is not None for t in truth) >= 5
    assert sum(t["url_refetch_of"] is not None for t in truth) >= 3
    assert len({t["language"] for t in truth}) >= 6
    pii_types = {p["type"] for t in truth for p in t["planted_pii"]}
    assert {"email", "card", "iban", "ssn"} <= pii_types
    defects = {d for t in truth for d in t["defects"]}
    assert {"dirty_words", "repeated_lines", "short"} <= defects


def test_near_duplicates_have_measured_similarity(corpus):
    near = [t for t in _truth(corpus) if t["near_dup_cluster"] is not None]
    for t in near:
        assert 0.0 < t["near_dup_jaccard"] <= 1.0
        assert t["near_dup_edit_fraction"] in (0.02, 0.05, 0.1, 0.3)
    light = [t["near_dup_jaccard"] for t in near if t["near_dup_edit_fraction"] == 0.02]
    assert not light or min(light) > 0.7


def test_planted_pii_is_in_the_page(corpus):
    truth = [t for t in _truth(corpus) if t["planted_pii"]]
    assert truth
    for t in truth[:20]:
        with open(corpus.root / "warc" / t["source"], "rb") as fh:
            fh.seek(t["offset"])
            html = next(iter(ArchiveIterator(fh))).content_stream().read().decode("utf-8")
        for item in t["planted_pii"]:
            assert item["value"] in html


def test_refetches_are_later_than_their_original(corpus):
    truth = {t["id"]: t for t in _truth(corpus)}
    times = {}
    for f in list_inputs(str(corpus.root / "warc")):
        for out in read_file(f):
            times.update(zip(out.kept.column("id").to_pylist(), out.kept.column("fetch_time").to_pylist()))
    for t in truth.values():
        if t["url_refetch_of"]:
            assert times[t["id"]] > times[t["url_refetch_of"]]
