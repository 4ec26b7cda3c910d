"""Tiny real BERT token classifiers with hand-set weights, for tests of the NER detector and of
the PII stage's ``ner_model`` option (built at test time; nothing is downloaded).

Each model is a genuine ``BertForTokenClassification`` run through the normal forward pass, but
built so its output is known in advance: the encoder layer's output projections are zero, which
makes it (layer-norm aside) an identity, type embeddings are zero, and every tagged vocabulary
word has its own embedding dimension that the classifier maps to that word's tag. So each token
gets its tag regardless of context, and offsets, merging, windowing and batching can be checked
exactly. Position embeddings are zero too, except in the "edge-blind" variant, where positions
near both ends of a 32-token window push every token to "O", like a real model short of context.
"""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

HIDDEN = 16
WEAK = HIDDEN - 1  # embedding dimension the classifier reads as evidence for "O"
FILLER = ["the", "a", "met", "and", "in", "of", "with", "said", "hello", "from", "was", "born", "to", ",", ".", "!"]
# Tags per scheme for each tagged word. "kim" is a PER word the model is unsure about (see _build).
SCHEMES = {
    "bio": (
        ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],
        {"ada": "B-PER", "lovelace": "I-PER", "grace": "B-PER", "##lyn": "I-PER", "alan": "B-PER",
         "turing": "I-PER", "paris": "B-LOC", "london": "B-LOC", "kim": "B-PER"},
    ),
    "bioes": (
        ["O", "B-PER", "I-PER", "E-PER", "S-PER", "S-LOC"],
        {"ada": "B-PER", "lovelace": "E-PER", "grace": "S-PER", "##lyn": "I-PER", "alan": "S-PER",
         "turing": "S-PER", "paris": "S-LOC", "london": "S-LOC", "kim": "S-PER"},
    ),
    "plain": (
        ["O", "PER", "LOC"],
        {"ada": "PER", "lovelace": "PER", "grace": "PER", "##lyn": "PER", "alan": "PER",
         "turing": "PER", "paris": "LOC", "london": "LOC", "kim": "PER"},
    ),
}


# Content tokens of a 32-token window sit at positions 1..30; these are within 3 of an edge.
BLIND_POSITIONS = (1, 2, 3, 28, 29, 30)


def build_tiny_ner(folder: Path, scheme: str, blind_edges: bool = False) -> Path:
    """Write vocab.txt, build tokenizer and hand-weighted model, save both, return the folder."""
    labels, tags = SCHEMES[scheme]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *FILLER, *tags]
    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast.from_pretrained(folder)

    config = BertConfig(
        vocab_size=len(vocab), hidden_size=HIDDEN, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16, max_position_embeddings=512, num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={name: i for i, name in enumerate(labels)},
    )
    model = BertForTokenClassification(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.fill_(1.0 if name.endswith("LayerNorm.weight") else 0.0)
        words = model.bert.embeddings.word_embeddings.weight
        for token, tag in tags.items():
            words[vocab.index(token), labels.index(tag)] = 1.0
        # "kim": as much "O" evidence as PER evidence, so its PER probability is middling.
        words[vocab.index("kim"), WEAK] = 1.0
        if blind_edges:
            model.bert.embeddings.position_embeddings.weight[list(BLIND_POSITIONS), WEAK] = 3.0
        classifier = model.classifier
        for label_id in range(1, len(labels)):
            classifier.weight[label_id, label_id] = 5.0
        classifier.weight[0, WEAK] = 3.5
        classifier.bias[0] = 3.0  # untagged words (zero embedding) come out as "O"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
