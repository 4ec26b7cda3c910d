"""Static token embeddings: distillation from a real (tiny) BERT, the folder format, pooling."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from curate.models.resolve import resolve_model
from curate.models.static_embed import StaticEmbedder, distill_static, forget_recent, principal_components, quantise_int8, sif_weights, token_outputs
from tests.tiny_seqcls import build_tiny_seqcls

TEXTS = ["the study of data shows results", "buy cheap offer now , click here !", "history of science", "", "   "]


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    return build_tiny_seqcls(tmp_path_factory.mktemp("tiny") / "encoder", weight_std=0.5)


def test_distillation_is_deterministic_and_follows_the_recipe(tiny_encoder, tmp_path):
    a = distill_static(tiny_encoder, tmp_path / "a", dims=8, dtype="float32")
    distill_static(tiny_encoder, tmp_path / "b", dims=8, dtype="float32")
    digest = lambda folder: hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert a["hidden_dim"] == 8 and a["curate"]["vocabulary"] == 44

    # Row i = PCA of the encoder's [CLS] token [SEP] outputs, times the SIF weight of rank i.
    outputs, _ = token_outputs(tiny_encoder)
    expected = principal_components(outputs, 8) * sif_weights(len(outputs))[:, None]
    from safetensors.numpy import load_file

    stored = load_file(str(tmp_path / "a" / "model.safetensors"))["embeddings"]
    np.testing.assert_allclose(stored, expected.astype(np.float32), rtol=1e-5, atol=1e-6)
    # Components come out ordered by variance: the first carries the most.
    assert np.var(expected[:, 0]) >= np.var(expected[:, -1])


def test_int8_folder_scores_like_float32(tiny_encoder, tmp_path):
    distill_static(tiny_encoder, tmp_path / "f32", dims=8, dtype="float32")
    distill_static(tiny_encoder, tmp_path / "i8", dims=8, dtype="int8")
    full = StaticEmbedder(tmp_path / "f32").encode(TEXTS)
    small = StaticEmbedder(tmp_path / "i8").encode(TEXTS)
    assert (tmp_path / "i8" / "model.safetensors").stat().st_size < (tmp_path / "f32" / "model.safetensors").stat().st_size
    cosine = np.sum(full[:3] * small[:3], axis=1)
    assert np.all(cosine > 0.999)
    q, scales = quantise_int8(np.array([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0]]))
    assert q.dtype == np.int8 and q[0, 1] == -127 and scales[1] == 1.0  # an all-zero row keeps a usable scale


def test_pooling_mean_of_token_rows_batch_independent_and_truncated(tiny_encoder, tmp_path):
    distill_static(tiny_encoder, tmp_path / "m", dims=8, dtype="float32")
    embedder = StaticEmbedder(tmp_path / "m", max_tokens=4)
    together = embedder.encode(TEXTS)
    alone = []
    for text in TEXTS:
        forget_recent()  # computed again, not reused
        alone.append(embedder.encode([text]))
    assert together.tobytes() == np.vstack(alone).tobytes()  # a row depends on its own text alone, to the bit
    assert not together[3].any() and not together[4].any()  # empty / blank texts: zero rows
    np.testing.assert_allclose(np.linalg.norm(together[:3], axis=1), 1.0, rtol=1e-6)

    ids = embedder.tokenizer.encode("the study of data shows results", add_special_tokens=False).ids[:4]
    mean = embedder.matrix[ids].astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(together[0], mean / np.linalg.norm(mean), rtol=1e-6)
    assert embedder.truncated >= 2  # six tokens and nine tokens, read four


def test_unknown_words_are_not_evidence(tiny_encoder, tmp_path):
    distill_static(tiny_encoder, tmp_path / "m", dims=8, dtype="float32")
    embedder = StaticEmbedder(tmp_path / "m")
    only_unknown = embedder.encode(["zyzzyva quokka"])
    assert not only_unknown.any()  # [UNK] rows would make every unknown text look alike
    assert np.array_equal(embedder.encode(["history zyzzyva"]), embedder.encode(["history"]))


def test_model2vec_layout_with_vocabulary_quantisation_loads(tiny_encoder, tmp_path):
    """model2vec's own files (e.g. potion models): float embeddings, per-token weights, a token -> row mapping."""
    folder = tmp_path / "m2v"
    folder.mkdir()
    vocab = 44
    rows = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
    mapping = (np.arange(vocab) % 5).astype(np.int32)
    weights = np.linspace(0.5, 1.5, vocab).astype(np.float32)
    save_file({"embeddings": rows, "weights": weights, "mapping": mapping}, str(folder / "model.safetensors"))
    (folder / "tokenizer.json").write_bytes((tiny_encoder / "tokenizer.json").read_bytes())
    (folder / "config.json").write_text(json.dumps({"model_type": "model2vec", "normalize": False}))
    embedder = StaticEmbedder(folder)
    token = embedder.tokenizer.token_to_id("history")
    np.testing.assert_allclose(embedder.encode(["history"])[0], rows[token % 5] * weights[token], rtol=1e-6)


def test_bad_folders_are_named(tmp_path, tiny_encoder):
    with pytest.raises(ValueError, match="model.safetensors missing"):
        StaticEmbedder(tmp_path)
    folder = tmp_path / "bad"
    folder.mkdir()
    save_file({"vectors": np.zeros((3, 2), np.float32)}, str(folder / "model.safetensors"))
    (folder / "tokenizer.json").write_bytes((tiny_encoder / "tokenizer.json").read_bytes())
    with pytest.raises(ValueError, match="no 'embeddings' tensor"):
        StaticEmbedder(folder)
    save_file({"embeddings": np.zeros((44, 2), np.int8)}, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match="'scales'"):
        StaticEmbedder(folder)


def test_shipped_static_minilm_matches_its_recorded_teacher():
    folder = resolve_model("builtin:static_minilm")
    config = json.loads((folder_path := __import__("pathlib").Path(folder)).joinpath("config.json").read_text())
    assert config["curate"]["teacher"] == "builtin:all-MiniLM-L6-v2" and config["curate"]["dims"] == 256
    embedder = StaticEmbedder(folder_path)
    assert embedder.matrix.shape == (30522, 256)
    a, b, c = embedder.encode(["The river flooded the valley after heavy rain.",
                               "Heavy rainfall caused the river to flood the valley.",
                               "Click here to buy cheap watches, free shipping!"])
    assert float(a @ b) > float(a @ c)  # the distilled space still carries meaning


def test_a_second_embedder_of_the_same_matrix_reuses_rows(tiny_encoder, tmp_path):
    """Two stages on the same embeddings in one worker tokenize a text once; the reused row is the
    row a fresh computation gives."""
    distill_static(tiny_encoder, tmp_path / "m", dims=8, dtype="float32")
    forget_recent()
    first, second = StaticEmbedder(tmp_path / "m"), StaticEmbedder(tmp_path / "m")
    a = first.encode(TEXTS[:3])
    b = second.encode(TEXTS[:3])
    assert second.reused == 3 and second.tokens_read == 0 and a.tobytes() == b.tobytes()
    forget_recent()
    assert StaticEmbedder(tmp_path / "m").encode(TEXTS[:3]).tobytes() == a.tobytes()
    other = StaticEmbedder(tmp_path / "m", max_tokens=2)  # another token limit is another row
    other.encode(TEXTS[:1])
    assert other.reused == 0


def test_the_fast_normaliser_path_gives_the_tokenizers_own_ids_on_real_pages():
    """The shipped (BERT-uncased) tokenizer: texts of ASCII and common typographic symbols skip its
    Unicode normaliser; every text must get exactly the ids the full tokenizer gives."""
    from evals.quality import labelled_union
    from tests.conftest import shared_path

    embedder = StaticEmbedder(resolve_model("builtin:static_minilm"))
    assert embedder.bare_tokenizer is not None
    texts = [r["text"][:8192] for r in labelled_union(shared_path("data", "quality", "dclm-human"))[0]]
    texts += ["Tabs\tand\x0bvertical\x0cfeeds, NUL\x00 and DEL\x7f, CRLF\r\nNBSP\xa0here — “quoted” … 5×3 ÷ 2 € 10 © ACME™",
              "Ünïcödé accents go the slow way: café, naïve, Ærøskøbing", "混合 CJK 文字 and English", "ＦＵＬＬ width", ""]
    fast = embedder.encodings(texts)
    full = embedder.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    assert [e.ids for e in fast] == [e.ids for e in full]
    assert sum(t.isascii() for t in texts) < len(texts) - 10  # typographic symbols are common: not only ASCII was tested
