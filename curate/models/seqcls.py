"""A Hugging Face sequence classifier as a scorer of whole documents: tokenize, forward, scores.

Used by the ``hf_classifier`` stage (one :class:`SequenceClassifier` per Ray actor), by
``classifiers/quality_transformer/train.py`` to score held-out folds with exactly the stage's
truncation, and by :func:`throughput` for benchmarks.

* The head kind comes from the model's config (:func:`head_kind`): ``problem_type``
  ``"regression"`` (or one label and no problem type, which is how ``transformers`` itself treats
  a one-output head) gives the raw output as one score; ``"multi_label_classification"`` gives a
  sigmoid per label; anything else a softmax over the labels.
* A text is read from its start: at most ``max_tokens`` tokens (special tokens included) reach the
  model. The tokenizer sees at most ``CHARS_PER_TOKEN_BOUND × max_tokens`` characters of it, so a
  megabyte-long page costs no more than a long one; that bound is far above the characters per
  token of any natural text, so the tokens the model reads are the same as without it.
* A text's scores depend on that text alone (given the model and torch's thread count): on CPU
  each text is one forward call at its own token length, never padded, because padding and even
  the number of rows in a call move the last float32 bits (``curate.models.batching``). On a GPU
  texts are sorted by token count and scored ``batch_size`` at a time (``batch_size`` 1 gives the
  CPU rule there too). Scores come back in the input order. Empty or whitespace-only texts (and
  None) are not scored: their rows are NaN.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from curate.models.batching import collate, forward_groups

HeadKind = Literal["classification", "multi_label", "regression"]
HEADS: tuple[str, ...] = ("classification", "multi_label", "regression")

# A text longer than this many characters per allowed token is cut before tokenizing. English runs
# at ~4-5 characters per WordPiece token and code at ~3, so 50 only bounds pathological texts.
CHARS_PER_TOKEN_BOUND = 50


def head_kind(config, override: str | None = None) -> HeadKind:
    """What the model's output means, from its ``PretrainedConfig`` (or ``override``)."""
    if override is not None:
        if override not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {override!r}")
        return override  # type: ignore[return-value]
    problem = getattr(config, "problem_type", None)
    if problem == "regression" or (problem is None and config.num_labels == 1):
        return "regression"
    if problem == "multi_label_classification":
        return "multi_label"
    return "classification"


def label_names(config) -> list[str]:
    """The model's label names in output order (``id2label``)."""
    id2label = {int(i): str(name) for i, name in config.id2label.items()}
    return [id2label[i] for i in range(config.num_labels)]


def position_limit(config) -> int | None:
    """How many tokens the model's position embeddings allow, if its config says."""
    for key in ("max_position_embeddings", "n_positions", "max_seq_len"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


@dataclass
class Scores:
    """Scores of a list of texts, in input order."""

    values: np.ndarray  # [n, outputs] float32; NaN rows for texts that were not scored
    scored: np.ndarray  # [n] bool: the text was non-empty and went through the model
    tokens: np.ndarray  # [n] int64: tokens the model read (special tokens included; 0 if not scored)
    truncated: np.ndarray  # [n] bool: the text had more tokens than max_tokens
    model_seconds: float  # time in forward passes


class SequenceClassifier:
    """An ``AutoModelForSequenceClassification`` and its tokenizer, loaded once.

    ``model`` is a local folder written by ``save_pretrained`` or a hub id (found in the Hugging
    Face cache; set ``HF_HUB_OFFLINE=1`` on machines without network). ``device`` defaults to CUDA
    when available, else CPU.
    """

    def __init__(
        self,
        model: str,
        *,
        max_tokens: int = 512,
        batch_size: int = 16,
        device: str | None = None,
        head: str | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        try:
            self.model = AutoModelForSequenceClassification.from_pretrained(model)
            self.tokenizer = AutoTokenizer.from_pretrained(model)
        except (OSError, ValueError) as exc:
            raise OSError(f"cannot load a sequence-classification model and tokenizer from {model!r}: {exc}") from exc
        if not getattr(self.tokenizer, "is_fast", False):
            # Truncation is detected from the fast tokenizer's overflow windows (see encode()).
            raise ValueError(f"the tokenizer of {model!r} is not a fast (Rust) tokenizer, which SequenceClassifier needs")
        config = self.model.config
        self.head: HeadKind = head_kind(config, head)
        self.labels = ["score"] if self.head == "regression" else label_names(config)
        limit = position_limit(config)
        if limit is not None and max_tokens > limit:
            raise ValueError(f"max_tokens {max_tokens} exceeds the {limit} positions {model!r} was built with")
        # RoBERTa-style models reserve positions for padding: the tokenizer's own limit is the usable one.
        tokenizer_limit = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(tokenizer_limit, int) and 0 < tokenizer_limit < 1_000_000:
            max_tokens = min(max_tokens, tokenizer_limit)
        if max_tokens <= self.tokenizer.num_special_tokens_to_add():
            raise ValueError(f"max_tokens {max_tokens} leaves no room for text beside the special tokens")
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        # A document is judged by its beginning, whatever side the tokenizer was saved with.
        self.tokenizer.truncation_side = "right"
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model.to(self.device)
        self.model.eval()

    def encode(self, texts: Sequence[str]) -> tuple[list[list[int]], list[bool]]:
        """Token ids (truncated to ``max_tokens``) and whether each text was truncated."""
        char_limit = CHARS_PER_TOKEN_BOUND * self.max_tokens
        clipped = [text[:char_limit] for text in texts]
        # Overflow windows tell truncation apart from a text that just fits, in one tokenizer call.
        encoded = self.tokenizer(clipped, truncation=True, max_length=self.max_tokens, return_overflowing_tokens=True)
        ids: list[list[int] | None] = [None] * len(texts)
        truncated = [len(text) > char_limit for text in texts]
        for window, sample in enumerate(encoded["overflow_to_sample_mapping"]):
            if ids[sample] is None:
                ids[sample] = encoded["input_ids"][window]
            else:
                truncated[sample] = True
        return ids, truncated  # type: ignore[return-value]

    def score(self, texts: Sequence[str | None]) -> Scores:
        import torch

        n = len(texts)
        values = np.full((n, len(self.labels)), np.nan, dtype=np.float32)
        scored = np.array([bool(text and text.strip()) for text in texts], dtype=bool)
        tokens = np.zeros(n, dtype=np.int64)
        truncated = np.zeros(n, dtype=bool)
        todo = np.flatnonzero(scored)
        if not todo.size:
            return Scores(values, scored, tokens, truncated, 0.0)
        ids, cut = self.encode([texts[i] for i in todo])
        tokens[todo] = [len(x) for x in ids]
        truncated[todo] = cut
        # One text per call on CPU (its scores then depend on it alone), length-sorted padded
        # batches on a GPU: see curate.models.batching.
        model_seconds = 0.0
        with torch.inference_mode():
            for rows in forward_groups([len(x) for x in ids], self.batch_size, self.device):
                input_ids, mask = collate([ids[k] for k in rows], self.pad_id)
                started = time.perf_counter()
                logits = self.model(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device)).logits.float()
                if self.head == "classification":
                    out = torch.softmax(logits, dim=-1)
                elif self.head == "multi_label":
                    out = torch.sigmoid(logits)
                else:
                    out = logits[:, :1]
                out = out.cpu().numpy()
                model_seconds += time.perf_counter() - started
                values[todo[rows]] = out
        return Scores(values, scored, tokens, truncated, model_seconds)


def throughput(
    texts: Sequence[str],
    model: str,
    *,
    max_tokens: int = 256,
    batch_size: int = 16,
    repeats: int = 3,
    threads: int | None = None,
    device: str | None = None,
) -> dict:
    """Documents per second of ``model`` over ``texts`` (tokenizing included; loading not), the
    median of ``repeats`` passes, for ``curate bench``."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    classifier = SequenceClassifier(model, max_tokens=max_tokens, batch_size=batch_size, device=device)
    classifier.score(list(texts[: batch_size]))  # first-call overhead (allocations, kernel selection)
    seconds, tokens, truncated = [], 0, 0
    for _ in range(repeats):
        started = time.perf_counter()
        result = classifier.score(list(texts))
        seconds.append(time.perf_counter() - started)
        tokens, truncated = int(result.tokens.sum()), int(result.truncated.sum())
    median = statistics.median(seconds)
    return {
        "model": model,
        "device": str(classifier.device),
        "threads": torch.get_num_threads(),
        "documents": len(texts),
        "max_tokens": classifier.max_tokens,
        "batch_size": batch_size,
        "tokens": tokens,
        "truncated_documents": truncated,
        "seconds": seconds,
        "docs_per_s": len(texts) / median if median else float("inf"),
        "tokens_per_s": tokens / median if median else float("inf"),
    }
