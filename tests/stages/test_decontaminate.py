"""decontaminate: benchmark passages planted in web pages (exact, lightly edited, and text that
must not match), benchmarks as JSONL, Parquet and text files, remove and mark."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from curate.config import load_pipeline
from curate.filters.ngram_index import NgramIndex, ngram_hashes, words
from curate.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA, conform
from curate.stages.decontaminate import Decontaminate, DecontaminateParams
from tests.conftest import REPO

QA = [  # a small reading-comprehension set, written for this test
    {"id": "q1", "question": "A farmer plants three rows of apple trees along the northern edge of the orchard and "
                             "twice as many rows of pear trees along the southern edge. How many rows of trees does "
                             "the farmer plant in total?", "answer": "Nine rows."},
    {"id": "q2", "question": "The lighthouse keeper climbed the spiral staircase every evening at dusk to light the "
                             "great lamp, and every morning he polished the brass until it shone like the sun over the bay.",
     "answer": "He lit the lamp."},
    {"id": "q3", "question": "Which gas do green plants absorb from the air during photosynthesis, using the energy of "
                             "sunlight to turn it into sugars that feed the plant?", "answer": "Carbon dioxide."},
]
MATH = ["If a train leaves the station at nine in the morning travelling at sixty kilometres per hour and a second "
        "train leaves the same station one hour later at ninety kilometres per hour, at what time does the second "
        "train catch up with the first one?",
        "A rectangle has a perimeter of thirty centimetres and its length is twice its width; find the area of the "
        "rectangle in square centimetres and explain each step of your reasoning."]
WEB = ("Our village newsletter is back after the summer break. The bakery on the corner now opens at seven, the "
       "library has new opening hours on Saturdays, and the football club is looking for volunteers to coach the "
       "under-twelves. Please send your stories and photographs to the editor before the end of the month. ")


def _batch(texts):
    return conform(pa.table({"id": [f"d{i}" for i in range(len(texts))], "url": [f"https://e.org/{i}" for i in range(len(texts))],
                             "text": texts}), DOCUMENT_SCHEMA)


@pytest.fixture
def benchmarks(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    (tmp_path / "qa.jsonl").write_text("\n".join(json.dumps(row) for row in QA) + "\n")
    pq.write_table(pa.table({"problem": MATH, "level": [1, 2]}), tmp_path / "math.parquet")
    (tmp_path / "passages").mkdir()
    (tmp_path / "passages" / "p.txt").write_text(
        "The committee met in the old town hall on a rainy Tuesday to decide the future of the harbour and agreed, "
        "after a long debate, to rebuild the sea wall before the winter storms arrived.\n\nShort line.\n")
    return [
        {"name": "toy-qa", "path": str(tmp_path / "qa.jsonl"), "fields": ["question", "answer"]},
        {"name": "toy-math", "path": str(tmp_path / "math.parquet"), "fields": ["problem"]},
        {"name": "toy-passages", "path": str(tmp_path / "passages"), "format": "text"},
    ]


def _edit(text: str) -> str:
    """Light edits: case, punctuation and spacing changed, two words replaced."""
    out = text.upper().replace(",", " ;").replace("  ", " ").replace("orchard", "garden").replace("evening", "night")
    return out.replace("energy", "power")


def planted_documents() -> dict[str, tuple[str, str | None]]:
    """id suffix -> (text, the benchmark that must be found or None)."""
    return {
        "exact_q1": (WEB + QA[0]["question"] + " " + WEB, "toy-qa"),
        "edited_q2": (WEB + _edit(QA[1]["question"]), "toy-qa"),
        "edited_q1": (_edit(QA[0]["question"]) + " " + WEB, "toy-qa"),
        "exact_math": ("Homework help: " + MATH[0] + " Answer below.", "toy-math"),
        "passage": (WEB + "Minutes: " + "the committee met in the old town hall on a rainy tuesday to decide the future "
                    "of the harbour and agreed after a long debate to rebuild the sea wall", "toy-passages"),
        # must not match: the same topics in other words, short shared phrases, plain web text
        "topic_only": (WEB + "Plants take carbon dioxide from the air and, with sunlight, make sugar; our school garden "
                       "shows this every spring.", None),
        "short_overlap": (WEB + "How many rows of trees does a farm need? Ask the experts.", None),
        "plain": (WEB * 3, None),
        "empty": ("", None),
    }


def test_planted_passages_are_found_and_the_rest_is_kept(benchmarks):
    planted = planted_documents()
    stage = Decontaminate(DecontaminateParams(benchmarks=benchmarks))
    out = stage.process(_batch([text for text, _ in planted.values()]))
    assert out.rejected.schema == REJECT_SCHEMA
    keys = list(planted)
    removed = {keys[int(r["id"][1:])]: r["detail"] for r in out.rejected.to_pylist()}
    assert set(removed) == {k for k, (_, bench) in planted.items() if bench}
    for key, detail in removed.items():
        assert detail.startswith(f"benchmark={planted[key][1]} ngrams="), (key, detail)
    assert set(out.rejected.column("reason").to_pylist()) == {"decontaminated"}
    assert out.counters["contaminated_toy-qa"] == 3 and out.counters["contaminated_toy-math"] == 1
    assert out.counters["ngrams_matched_toy-qa"] > 3
    assert out.kept.column("contamination").to_pylist() == [None] * out.kept.num_rows


def test_mark_keeps_and_labels(benchmarks):
    planted = planted_documents()
    out = Decontaminate(DecontaminateParams(benchmarks=benchmarks, action="mark")).process(_batch([t for t, _ in planted.values()]))
    assert out.rejected.num_rows == 0
    assert out.kept.column("contamination").to_pylist() == [bench for _, bench in planted.values()]
    ngrams = out.kept.column("contamination_ngrams").to_pylist()
    assert all((n > 0) == (bench is not None) for n, (_, bench) in zip(ngrams, planted.values(), strict=True))


def test_llama3_style_8grams_with_item_coverage(benchmarks):
    """8-grams with half of an item's n-grams required: the whole planted question is found, a
    document quoting only its first sentence-sized piece is not."""
    planted = planted_documents()
    piece = " ".join(words(QA[0]["question"])[:12])
    texts = [planted["exact_q1"][0], WEB + piece + ". " + WEB]
    strict = Decontaminate(DecontaminateParams(benchmarks=benchmarks, n=8, min_item_coverage=0.5)).process(_batch(texts))
    assert strict.rejected.column("id").to_pylist() == ["d0"]
    loose = Decontaminate(DecontaminateParams(benchmarks=benchmarks, n=8)).process(_batch(texts))
    assert loose.rejected.num_rows == 2


def test_index_holds_hashes_and_is_cached(benchmarks, tmp_path):
    Decontaminate(DecontaminateParams(benchmarks=benchmarks)).ensure_setup()
    cached = sorted((tmp_path / "cache" / "decontaminate").glob("*.npz"))
    assert len(cached) == 3
    index = NgramIndex.load(cached[0])
    assert index.hashes.dtype.name == "uint64" and (index.hashes[1:] > index.hashes[:-1]).all()
    raw = b"".join(p.read_bytes() for p in cached)
    assert b"farmer" not in raw and b"lighthouse" not in raw  # no benchmark text in the index
    # the same n-grams whichever the case, punctuation or spacing
    assert (ngram_hashes("The  Farmer, plants!", 3) == ngram_hashes("the farmer plants", 3)).all()


def test_bad_benchmarks_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ValidationError, match="repeat"):
        DecontaminateParams(benchmarks=[{"name": "a", "path": "x"}, {"name": "a", "path": "y"}])
    with pytest.raises(ValidationError, match="benchmarks.0.pth"):
        DecontaminateParams(benchmarks=[{"name": "a", "pth": "x"}])
    with pytest.raises(FileNotFoundError, match="matches no file"):
        Decontaminate(DecontaminateParams(benchmarks=[{"name": "a", "path": str(tmp_path / "none*.jsonl")}])).ensure_setup()
    (tmp_path / "b.jsonl").write_text('{"question": "q"}\n')
    with pytest.raises(ValueError, match="none of the fields"):
        Decontaminate(DecontaminateParams(benchmarks=[{"name": "b", "path": str(tmp_path / "b.jsonl")}])).ensure_setup()


def test_default_pipeline_runs_it_with_no_benchmark():
    pipeline = load_pipeline(REPO / "pipelines" / "llama3.yaml")
    step = next(s for s in pipeline.stages if s.cls.name == "decontaminate")
    assert step.params.benchmarks == []
    out = Decontaminate(step.params).process(_batch([WEB]))
    assert out.kept.num_rows == 1 and out.kept.column("contamination").to_pylist() == [None]
