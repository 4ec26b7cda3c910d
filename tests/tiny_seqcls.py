"""Tiny real BERT sequence classifiers for tests of ``hf_classifier`` and the quality_transformer
recipe (built at test time with seeded random weights; nothing is downloaded).

A genuine ``BertForSequenceClassification`` with a 16-d, 1-layer encoder and a WordPiece vocab of
a few dozen words, saved with ``save_pretrained`` (model and tokenizer) like any hub model: tests
compare the stage's scores with the model run directly, one text at a time.
"""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

WORDS = [
    "the", "a", "of", "and", "to", "in", "is", "was", "it", "for", "on", "with", "as", "good", "bad",
    "great", "poor", "page", "click", "here", "buy", "now", "study", "results", "method", "data",
    "we", "show", "that", "this", "paper", "cheap", "free", "offer", "science", "history", ",", ".", "!",
]
MAX_POSITIONS = 64


def build_tiny_seqcls(
    folder: Path,
    head: str = "classification",
    labels: tuple[str, ...] = ("low", "high"),
    seed: int = 0,
    weight_std: float = 0.5,
) -> Path:
    """Write vocab, tokenizer and a seeded random model with this head; return the folder.

    ``head``: ``classification`` (softmax over ``labels``), ``multi_label`` (sigmoid per label) or
    ``regression`` (one output, ``problem_type: regression``). ``weight_std``: BERT's own 0.02
    init gives near-constant outputs, so scoring tests use larger weights (0.5) to make texts
    score apart; a base for fine-tuning trains faster from the usual 0.02.
    """
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast.from_pretrained(folder)
    if head == "regression":
        label_kwargs = {"num_labels": 1, "problem_type": "regression"}
    else:
        label_kwargs = {
            "num_labels": len(labels), "id2label": dict(enumerate(labels)), "label2id": {name: i for i, name in enumerate(labels)},
            "problem_type": "multi_label_classification" if head == "multi_label" else "single_label_classification",
        }
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=MAX_POSITIONS, **label_kwargs,
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() > 1:
                param.normal_(0.0, weight_std)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
