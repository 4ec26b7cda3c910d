"""NerDetector against tiny real BERT token classifiers whose weights are set by hand (tiny_ner.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from curate.pii.ner import NerDetector
from tests.pii.tiny_ner import FILLER, SCHEMES, build_tiny_ner


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ner_models")
    built = {scheme: build_tiny_ner(root / scheme, scheme) for scheme in SCHEMES}
    built["bio_edge_blind"] = build_tiny_ner(root / "bio_edge_blind", "bio", blind_edges=True)
    return built


@pytest.fixture(scope="session")
def bio(models) -> NerDetector:
    return NerDetector(str(models["bio"]), {"per": "NAME"}, device="cpu")


def _at(text: str, word: str) -> tuple[int, int]:
    """Offsets of the only occurrence of ``word`` in ``text``."""
    assert text.count(word) == 1
    start = text.index(word)
    return start, start + len(word)


def test_names_with_exact_offsets_and_merged_pieces(bio):
    text = "Hello Gracelyn, the Ada Lovelace said to Alan Turing."
    spans = bio.detect([text])[0]
    assert spans == [
        (*_at(text, "Gracelyn"), "NAME"), (*_at(text, "Ada Lovelace"), "NAME"), (*_at(text, "Alan Turing"), "NAME"),
    ]
    # "gracelyn" is two word pieces (grace + ##lyn) yet one span over the whole word.
    assert bio._tokenizer.tokenize("gracelyn") == ["grace", "##lyn"]


def test_location_ignored_unless_mapped(models, bio):
    text = "Ada was born in Paris and met Grace in London."
    assert [t for *_, t in bio.detect([text])[0]] == ["NAME", "NAME"]
    both = NerDetector(str(models["bio"]), {"PER": "NAME", "LOC": "ADDRESS"}, device="cpu")
    assert both.detect([text])[0] == [
        (*_at(text, "Ada"), "NAME"), (*_at(text, "Paris"), "ADDRESS"),
        (*_at(text, "Grace"), "NAME"), (*_at(text, "London"), "ADDRESS"),
    ]


def _long_text(placements: dict[int, str], n_tokens: int) -> tuple[str, list[tuple[int, int]]]:
    """Filler words with names whose first token sits at the given token index; returns expected spans."""
    words, expected, index = [], [], 0
    pieces = {"gracelyn": 2, "ada lovelace": 2, "alan turing": 2, "grace": 1, "ada": 1}
    while index < n_tokens:
        if index in placements:
            name = placements[index]
            start = len(" ".join(words)) + (1 if words else 0)
            words.append(name.title())
            expected.append((start, start + len(name)))
            index += pieces[name]
        else:
            words.append(FILLER[index % 4])  # "the", "a", "met", "and": one token each
            index += 1
    return " ".join(words), expected


@pytest.mark.parametrize("model", ["bio", "bio_edge_blind"])
def test_long_text_windows_find_each_name_once(models, model):
    # max_length 32 -> 30 content tokens per window, stride 8 -> windows start at tokens 0, 22, 44, 66, 88, 110.
    # The edge-blind model misses every name it sees within 3 tokens of a window edge, so this also
    # checks that each overlap token takes its prediction from the window where it has more context.
    detector = NerDetector(str(models[model]), {"PER": "NAME"}, max_length=32, stride=8, device="cpu")
    placements = {
        3: "ada",
        24: "grace",  # inside the overlap of windows 0 and 1
        29: "gracelyn",  # grace = last token of window 0, ##lyn only in window 1
        50: "ada lovelace",  # inside the overlap of windows 1 and 2 (tokens 44..51)
        65: "alan turing",  # straddles the start of window 3 (token 66)
        118: "ada",
    }
    text, expected = _long_text(placements, 130)
    assert len(detector._tokenizer(text)["input_ids"]) > 32 * 4
    spans = detector.detect([text])[0]
    assert [(s, e) for s, e, _ in spans] == expected
    assert [text[s:e] for s, e, _ in spans] == ["Ada", "Grace", "Gracelyn", "Ada Lovelace", "Alan Turing", "Ada"]


def test_unicode_and_mixed_case_keep_offsets(bio):
    texts = [
        "Ünïcødé 😀 café — GRACELYN 𝔘 wrote to ÁDÁ lovelace 日本 ALAN!",
        "\u00a0\tAda\n",  # only whitespace around the name
    ]
    spans = bio.detect(texts)
    assert [texts[0][s:e] for s, e, _ in spans[0]] == ["GRACELYN", "ÁDÁ lovelace", "ALAN"]
    assert [texts[1][s:e] for s, e, _ in spans[1]] == ["Ada"]


def test_min_score_drops_uncertain_entities(models):
    text = "Kim met Ada."
    lenient = NerDetector(str(models["bio"]), {"PER": "NAME"}, min_score=0.5, device="cpu")
    strict = NerDetector(str(models["bio"]), {"PER": "NAME"}, min_score=0.9, device="cpu")
    assert [text[s:e] for s, e, _ in lenient.detect([text])[0]] == ["Kim", "Ada"]
    assert [text[s:e] for s, e, _ in strict.detect([text])[0]] == ["Ada"]


def test_bioes_tags_split_and_merge_entities(models):
    detector = NerDetector(str(models["bioes"]), {"PER": "NAME"}, device="cpu")
    # ada (B) lovelace (E) is one entity; grace (S) and alan (S) are each their own, even adjacent;
    # an E right after an E starts a new entity because the first E closed its own.
    text = "Ada Lovelace Grace Alan met Gracelyn, Ada Lovelace Lovelace"
    assert [text[s:e] for s, e, _ in detector.detect([text])[0]] == [
        "Ada Lovelace", "Grace", "Alan", "Gracelyn", "Ada Lovelace", "Lovelace",
    ]


def test_plain_labels_merge_runs(models):
    detector = NerDetector(str(models["plain"]), {"PER": "NAME", "LOC": "ADDRESS"}, device="cpu")
    text = "Ada Lovelace met Gracelyn in Paris"
    assert detector.detect([text])[0] == [
        (*_at(text, "Ada Lovelace"), "NAME"), (*_at(text, "Gracelyn"), "NAME"), (*_at(text, "Paris"), "ADDRESS"),
    ]


def test_bad_labels_map_lists_model_labels(models):
    with pytest.raises(ValueError, match=r"B-PER.*I-LOC"):
        NerDetector(str(models["bio"]), {"PERSON": "NAME", "STREET_ADDRESS": "ADDRESS"}, device="cpu")


def test_bad_stride_rejected(models):
    with pytest.raises(ValueError, match="stride"):
        NerDetector(str(models["bio"]), {"PER": "NAME"}, max_length=32, stride=30, device="cpu")


def test_folder_without_model_raises(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n", encoding="utf-8")
    with pytest.raises((OSError, ValueError)):
        NerDetector(str(tmp_path), {"PER": "NAME"}, device="cpu")


def test_batch_size_does_not_change_results(models):
    texts = [
        "Ada Lovelace met Alan.",
        "",
        None,
        _long_text({5: "gracelyn", 40: "ada lovelace", 77: "alan turing"}, 90)[0],
        "Hello Grace!",
        "the " * 50 + "Kim",
    ]
    kwargs = dict(max_length=32, stride=8, device="cpu")
    one = NerDetector(str(models["bio"]), {"PER": "NAME"}, batch_size=1, **kwargs).detect(texts)
    many = NerDetector(str(models["bio"]), {"PER": "NAME"}, batch_size=16, **kwargs).detect(texts)
    assert one == many
    assert one[1] == one[2] == []
    assert all(spans for i, spans in enumerate(one) if i not in (1, 2))


def _random_ner(folder: Path) -> Path:
    """A BIO token classifier over the tiny vocabulary with seeded random weights: unlike the
    hand-set models its probabilities carry float32 rounding from every layer."""
    import torch
    from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

    build_tiny_ner(folder, "bio")  # vocabulary and tokenizer
    labels = SCHEMES["bio"][0]
    config = BertConfig(
        vocab_size=BertTokenizerFast.from_pretrained(folder).vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=512, num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={name: i for i, name in enumerate(labels)},
    )
    torch.manual_seed(0)
    model = BertForTokenClassification(config)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() > 1:
                param.normal_(0.0, 0.5)
    model.save_pretrained(folder)
    return folder


def test_probabilities_do_not_depend_on_batch_size_or_order(tmp_path):
    import random

    import numpy as np

    folder = _random_ner(tmp_path / "random")
    rng = random.Random(1)
    words = FILLER + ["ada", "lovelace", "grace", "alan", "turing", "paris", "kim"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 120))) for _ in range(30)]
    kwargs = dict(max_length=32, stride=8, device="cpu", torch_threads=1)
    runs = {size: NerDetector(str(folder), {"PER": "NAME"}, batch_size=size, **kwargs) for size in (1, 5, 32)}
    reference = runs[1].token_probabilities(texts)
    spans = runs[1].detect(texts)
    order = rng.sample(range(len(texts)), len(texts))
    shuffled = runs[32].token_probabilities([texts[i] for i in order])
    others = {size: detector.token_probabilities(texts) for size, detector in runs.items() if size != 1}
    others["shuffled"] = [shuffled[order.index(i)] for i in range(len(texts))]
    for name, probabilities in others.items():
        for i, (got, want) in enumerate(zip(probabilities, reference, strict=True)):
            assert got.shape == want.shape and np.array_equal(got, want), f"text {i} differs at {name}"
    assert runs[5].detect(texts) == runs[32].detect(texts) == spans
    assert any(spans)  # the random model does tag some names
