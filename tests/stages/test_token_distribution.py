"""token_distribution: KL(P || Q) against wordfreq references — the formula, OOV floor, null curve,
ordering on crafted texts, the thresholds, languages, columns and histograms."""
import math
import random
import re

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from curate.filters import token_kl as tk
from curate.sample import generate_sample_corpus, read_ground_truth
from curate.stages.token_distribution import TokenDistribution, TokenDistributionParams

PROSE = (
    "When the old bridge across the river was finally closed last spring, most people in the town "
    "expected the council to replace it within a year. Instead, the work has taken much longer than "
    "anyone planned. Engineers found that the ground on the eastern bank was softer than the early "
    "surveys had suggested, and the design had to be changed so that the new supports would reach "
    "solid rock. In the meantime, families who live on one side of the river and work on the other "
    "have had to drive twenty minutes around the valley each morning. Some shop owners say they have "
    "lost customers, while others have noticed that people now walk more and stop to talk. The "
    "council says the bridge should open before the end of next summer, although it has made similar "
    "promises before. For now, the ferry that once carried tourists has become a daily service again, "
    "and its captain says he has never been so busy in thirty years on the water."
)
STUFFED = " ".join(["cheap flights", "best hotel deals", "cheap hotel", "flights deals", "best price"] * 30)


def random_tokens(n: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    return " ".join("".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(rng.randint(4, 9))) for _ in range(n))


def batch(texts, langs=None) -> pa.Table:
    n = len(texts)
    columns = {"id": [f"d{i}" for i in range(n)], "url": [None] * n, "source": ["s"] * n, "text": list(texts)}
    if langs is not None:
        columns["lang"] = list(langs)
    return pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})


def run(texts, langs=None, **params):
    return TokenDistribution(TokenDistributionParams(**params)).process(batch(texts, langs))


def english(text: str) -> tk.Divergence:
    return tk.token_kl(text, "en")


# --- the divergence -------------------------------------------------------------------------------


def test_divergence_formula_and_per_type_oov_floor():
    ref = tk.Reference("xx", "words", {"a": math.log(0.5), "b": math.log(0.25)}, math.log(1e-3), 0.75)
    d = tk.divergence(["a", "a", "b", "c"], ref)
    expected = 0.5 * math.log(0.5 / 0.5) + 0.25 * math.log(0.25 / 0.25) + 0.25 * math.log(0.25 / 1e-3)
    assert d.kl == pytest.approx(expected) and d.tokens == 4 and d.oov_tokens == 1 and d.oov_frac == 0.25
    # Each OOV type gets the floor on its own: k distinct OOV types, equally frequent -> -ln floor - ln k.
    d = tk.divergence(["x", "y", "z", "x", "y", "z"], ref)
    assert d.kl == pytest.approx(-math.log(1e-3) - math.log(3))
    assert tk.divergence([], ref) is None
    # Q is not renormalised over the support: one repeated common word is still an outlier.
    assert tk.divergence(["a"] * 10, ref).kl == pytest.approx(math.log(2))


def test_oov_tokens_are_finite_and_counted():
    d = english("the cat sat on the mat qwzxv qwzxv plmnbt")
    assert math.isfinite(d.kl) and d.kl >= 0
    assert d.oov_tokens == 3 and d.oov_frac == pytest.approx(3 / 9)
    ref = tk.reference("en")
    assert ref.log_floor == pytest.approx(math.log(1e-8), abs=0.05)  # wordfreq's cut-off for its large lists
    assert len(ref) == tk.DEFAULT_TOP_N and 0.98 < ref.mass <= 1.0


def test_numbers_are_smashed_like_the_lists():
    assert tk.tokenize("In 2019 it cost $3.50, in 1987 twice that.", "en")[:2] == ["in", "0000"]
    assert "0.00" in tk.tokenize("it cost $3.50", "en")
    assert english("2019 1987 2024 1066").oov_tokens == 0


def test_ordering_prose_then_keyword_stuffing_then_random_tokens():
    prose, stuffed, noise = english(PROSE), english(STUFFED), english(random_tokens(200))
    assert prose.kl < stuffed.kl < noise.kl
    assert prose.excess < stuffed.excess < noise.excess
    assert prose.excess < 2.0 and stuffed.excess > 3.0 and noise.oov_frac > 0.9


def test_null_curve_falls_with_length_and_a_sample_of_q_has_no_excess():
    ref = tk.reference("en")
    curve = [ref.expected_kl(n) for n in (8, 50, 400, 3000, 200_000, 2_000_000)]
    assert all(a > b > 0 for a, b in zip(curve, curve[1:], strict=False))
    # A document drawn from Q itself: KL close to the null curve at its length (excess ~ 0).
    words = list(ref.log_q)
    q = np.exp(np.array(list(ref.log_q.values())))
    rng = np.random.default_rng(3)
    tokens = [words[i] for i in rng.choice(len(words), size=2000, p=q / q.sum())]
    assert abs(tk.divergence(tokens, ref).excess) < 0.25
    assert tk.build_reference("en").null_kl == ref.null_kl  # seeded: the same curve in every worker


def test_excess_is_flat_in_length_where_raw_kl_is_not():
    short, long = english(" ".join(PROSE.split()[:60])), english(PROSE)
    assert short.kl - long.kl > 0.5  # shorter text, higher raw KL
    assert abs(short.excess - long.excess) < abs(short.kl - long.kl)


# --- character languages -------------------------------------------------------------------------


def test_chinese_japanese_korean_are_scored_over_characters():
    assert tk.tokenize("我們在北京地铁。iPhone 2019年", "zh") == ["我", "们", "在", "北", "京", "地", "铁", "iphone", "0000", "年"]
    assert tk.tokenize("日本語のテキスト", "ja") == list("日本語のテキスト")
    assert tk.tokenize("한국어 텍스트", "ko") == list("한국어텍스트")
    for lang in ("zh", "ja", "ko"):
        assert tk.reference(lang).units == "characters"
    chinese = "北京是中华人民共和国的首都，也是全国的政治、文化和国际交往中心。" * 3
    assert tk.token_kl(chinese, "zh").excess < 3.0
    assert tk.token_kl(chinese, "zh").kl < tk.token_kl("乒乓" * 80, "zh").kl


# --- the stage ------------------------------------------------------------------------------------


def test_threshold_just_below_and_above():
    d = english(STUFFED)
    kept = run([STUFFED], max_excess=d.excess + 0.01)
    assert kept.rejected.num_rows == 0 and kept.kept.num_rows == 1
    out = run([STUFFED], max_excess=d.excess - 0.01)
    assert out.rejected.column("reason").to_pylist() == ["token_kl"]
    detail = out.rejected.column("detail").to_pylist()[0]
    assert re.fullmatch(r"excess=\d+\.\d\d>\d+\.\d\d kl=\d+\.\d\d tokens=330 lang=en", detail), detail
    assert out.counters["would_reject_token_kl_excess"] == 1


def test_defaults_keep_prose_and_reject_stuffing_and_noise():
    out = run([PROSE, STUFFED, random_tokens(200)], ["en", "en", "en"])
    assert out.kept.column("id").to_pylist() == ["d0"]
    assert out.rejected.column("id").to_pylist() == ["d1", "d2"]


def test_raw_kl_rule_and_per_language_thresholds():
    d = english(PROSE)
    out = run([PROSE], max_excess=None, max_kl=d.kl - 0.01)
    assert re.fullmatch(r"kl=\d+\.\d\d>\d+\.\d\d tokens=\d+ lang=en", out.rejected.column("detail").to_pylist()[0])
    assert run([PROSE], ["en"], max_excess_by_language={"en": d.excess - 0.01}).rejected.num_rows == 1
    assert run([PROSE], ["en"], max_excess_by_language={"de": -5.0}).rejected.num_rows == 0


def test_short_documents_are_scored_but_not_judged():
    short = " ".join(["cheap flights"] * 10)  # 20 tokens, a large excess
    assert english(short).excess > 3.0
    out = run([short])
    assert out.rejected.num_rows == 0 and out.counters["too_short_to_judge"] == 1
    assert out.kept.column("token_kl").to_pylist()[0] is not None
    assert run([short], min_tokens=10).rejected.num_rows == 1


def test_columns_for_kept_and_rejected_and_histograms():
    stage = TokenDistribution()
    out = stage.process(batch([PROSE, STUFFED, ""], ["en", "en", "en"]))
    for column in ("token_kl", "token_kl_excess", "token_kl_oov_frac"):
        assert out.kept.schema.field(column).type == pa.float32()
    assert out.kept.column("token_kl").to_pylist()[1] is None and out.counters["no_tokens"] == 1  # empty text
    assert out.rejected.column("id").to_pylist() == ["d1"]
    # The rejected document is in the histograms: scores are written before the split.
    assert sum(out.histograms["token_kl_excess"]) == 2 and sum(out.histograms["token_kl"]) == 2
    spec = TokenDistribution.score_histograms(TokenDistributionParams(max_excess_by_language={"de": 2.5}))
    assert spec["token_kl_excess"].thresholds == (2.5, 3.0)
    again = stage.process(out.kept)
    assert again.kept.column_names.count("token_kl") == 1


def test_languages_absent_unknown_and_unscored():
    out = run([PROSE])  # no lang column: English
    assert out.counters["default_language_used"] == 1 and out.counters["scored_en"] == 1
    out = run([PROSE, PROSE], ["und", None])
    assert out.counters["scored_en"] == 2
    out = run([random_tokens(200)], default_language=None)
    assert out.rejected.num_rows == 0 and out.counters["unscored_language"] == 1
    assert out.kept.column("token_kl_excess").to_pylist() == [None]
    out = run([random_tokens(200)], ["sw"])  # wordfreq has no Swahili list: never scored, never rejected
    assert out.rejected.num_rows == 0 and out.counters["unscored_language"] == 1
    out = run([random_tokens(200)], ["de"], languages=["en"])
    assert out.rejected.num_rows == 0 and out.counters["unscored_language"] == 1
    assert tk.reference_language("no") == "nb" and tk.reference_language("pt_BR") == "pt"
    assert tk.reference_language("zh-Hant") == "zh" and tk.reference_language("und") is None


def test_params_are_validated():
    with pytest.raises(ValidationError):
        TokenDistributionParams(languages=["sw"])
    with pytest.raises(ValidationError):
        TokenDistributionParams(default_language="sw")
    with pytest.raises(ValidationError):
        TokenDistributionParams(max_excess_by_language={"": 1.0})
    with pytest.raises(ValidationError):
        TokenDistributionParams(top_n=10)
    with pytest.raises(ValidationError):
        TokenDistributionParams(nope=True)
    assert not TokenDistribution.uses_model  # references are cached per process, not per actor
    assert TokenDistribution.models(TokenDistributionParams())[0]["role"] == "token_reference"


# --- the sample corpus ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_rows(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    generate_sample_corpus(root, seed=3, pages=400, pages_per_warc=400)
    return [r for r in read_ground_truth(root) if r.get("main_text")]


def test_sample_corpus_keyword_stuffing_rejected_clean_pages_kept(sample_rows):
    texts = [r["main_text"] for r in sample_rows]
    out = TokenDistribution().process(
        pa.table({"id": [r["id"] for r in sample_rows], "text": texts, "lang": [r["language"] for r in sample_rows]}))
    rejected = set(out.rejected.column("id").to_pylist())
    stuffed = {r["id"] for r in sample_rows if "keyword_stuffing" in r["defects"]}
    clean = {r["id"] for r in sample_rows if not r["defects"]}
    assert stuffed and stuffed <= rejected
    assert not rejected & clean


# --- real pages (../shared) ----------------------------------------------------------------------


def test_real_news_articles_and_dclm_pages_are_mostly_kept():
    import json

    from tests.conftest import shared_path

    gold = json.loads(shared_path("data", "extraction", "scrapinghub-aeb", "ground-truth.json").read_text(encoding="utf-8"))
    articles = [page["articleBody"] for page in gold.values()]
    try:  # the news set is mostly English, with a few pages in other languages: label them as the pipeline would
        from curate.langid import LanguageIdentifier

        langs = [label for label, _ in LanguageIdentifier().predict(articles)]
    except Exception as error:  # pragma: no cover - language ID not installed
        pytest.skip(f"language ID unavailable ({type(error).__name__}: {error})")
    out = run(articles, langs)
    assert out.rejected.num_rows <= 0.05 * len(articles)
    rows = [json.loads(line) for line in
            shared_path("data", "quality", "dclm-human", "majority_data.jsonl").read_text(encoding="utf-8").splitlines() if line]
    high = [r["text"] for r in rows if r["label"] == 1]
    assert run(high, [label for label, _ in LanguageIdentifier().predict(high)]).rejected.num_rows <= 0.02 * len(high)
