"""Optional named-entity PII detector: any Hugging Face token-classification model, as character spans.

Names and street addresses have no checkable syntax, so the rule detectors cannot find them; a NER
model can. This module runs the model directly (tokenizer + forward pass) instead of through
``transformers.pipeline``, whose aggregation and long-text behaviour changed across versions, so
the spans a run produces depend only on the model and the parameters below.

How a text becomes spans:

1. The fast tokenizer cuts it into windows of at most ``max_length`` tokens that overlap by
   ``stride`` tokens, with character offsets and word ids for every token.
2. Every window is scored by the model. On CPU each window is its own forward call at its own
   length, never padded: padding and even the number of rows in a call move the last float32 bits
   of the probabilities (``curate.models.batching``), which could flip a ``min_score`` decision
   with the block a text arrived in. On a GPU windows are sorted by length and batched
   (``batch_size`` per forward pass; ``batch_size`` 1 gives the CPU rule there too). A token seen
   in two windows keeps the prediction of the window where it sits farther from an edge, i.e. with
   more context on both sides (the earlier window on a tie), so every token is decided exactly once
   and nothing is duplicated.
3. Labels are collapsed to entity groups (``B-PER``/``I-PER``/... -> ``PER``), word pieces are
   aggregated into the tokenizer's words (mean group probability), and consecutive words of one
   group form one entity unless the tags say a new one begins (``B-``/``S-``/``U-``) or the last
   one ended (``E-``/``L-``/``S-``/``U-``). Models with plain labels (``PER``) simply merge runs.
4. Entities whose mean token score is below ``min_score``, or whose group is not in ``labels``,
   are dropped; the rest become ``(start, end, type)`` spans, whitespace stripped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer, BatchEncoding

from curate.models.batching import collate, forward_groups

Span = tuple[int, int, str]

# "B-PER", "i_per", "S-LOC": a tagging-scheme prefix (BIO, BIOES, BILOU) before the entity group.
_PREFIXED = re.compile(r"^([BIESLU])[-_](.+)$", re.IGNORECASE)
_BEGINS = frozenset("BSU")  # a word tagged so starts a new entity even right after one of its group
_ENDS = frozenset("ELSU")  # a word tagged so is the last of its entity
_OUTSIDE = 0  # column of the "no entity" group in the label -> group matrix


def _split_label(label: str) -> tuple[str, str | None]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"PER"`` -> ``("", "PER")``; ``"O"`` -> ``("", None)``."""
    match = _PREFIXED.match(label)
    if match:
        return match.group(1).upper(), match.group(2).upper()
    return "", (None if label.upper() == "O" else label.upper())


@dataclass
class _Doc:
    """Per-text token state, filled window by window (a text's windows may land in different batches)."""

    offsets: np.ndarray  # [n, 2] character offsets of each content token
    word_ids: np.ndarray  # [n] the tokenizer's word index, -1 where it has none
    probs: np.ndarray  # [n, num_labels] softmax of the chosen window
    context: np.ndarray = field(init=False)  # [n] distance to the nearest edge of the chosen window

    def __post_init__(self) -> None:
        self.context = np.full(len(self.word_ids), -1, dtype=np.int64)


class NerDetector:
    """Finds entities such as person names with a token-classification model; see the module docstring.

    ``model`` is a local directory written by ``save_pretrained`` or a hub id (resolved through the
    Hugging Face cache; set ``HF_HUB_OFFLINE=1`` on machines without network). ``labels`` maps the
    model's entity groups, case-insensitively and without tag prefixes, to our PII types, e.g.
    ``{"PER": "NAME"}``; groups not in it (LOC, ORG, MISC, ...) are ignored. Loading happens once,
    here, because the PII stage builds one detector per Ray actor and reuses it for every batch.
    ``torch_threads`` pins torch's intra-op thread count (process-wide): the probabilities' last
    bits follow it, so a caller that wants the same spans on every machine passes its CPU share.
    """

    def __init__(
        self,
        model: str,
        labels: dict[str, str],
        *,
        batch_size: int = 16,
        max_length: int = 512,
        stride: int = 64,
        min_score: float = 0.5,
        device: str | int | None = None,
        torch_threads: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if torch_threads is not None:
            if torch_threads < 1:
                raise ValueError(f"torch_threads must be >= 1, got {torch_threads}")
            torch.set_num_threads(torch_threads)
        try:
            self._model = AutoModelForTokenClassification.from_pretrained(model)
            self._tokenizer = AutoTokenizer.from_pretrained(model)
        except (OSError, ValueError) as exc:
            raise OSError(f"cannot load a token-classification model and tokenizer from {model!r}: {exc}") from exc
        if not getattr(self._tokenizer, "is_fast", False):
            raise ValueError(
                f"the tokenizer of {model!r} is not a fast (Rust) tokenizer; NerDetector needs its "
                "character offsets, word ids and overflowing windows"
            )
        # Windows must run left to right for the overlap arithmetic in detect(); a tokenizer saved
        # with truncation_side="left" would emit them from the end of the text.
        self._tokenizer.truncation_side = "right"
        special = self._tokenizer.num_special_tokens_to_add()
        if not 0 <= stride < max_length - special:
            raise ValueError(
                f"stride must be >= 0 and below max_length minus {special} special tokens "
                f"(< {max_length - special}), got {stride}"
            )
        positions = getattr(self._model.config, "max_position_embeddings", None)
        if positions is not None and max_length > positions:
            raise ValueError(f"max_length {max_length} exceeds the {positions} positions {model!r} was built with")

        id2label = {int(i): name for i, name in self._model.config.id2label.items()}
        split = [_split_label(id2label[i]) for i in range(len(id2label))]
        self._groups: list[str | None] = [None, *sorted({g for _, g in split if g is not None})]
        wanted = {key.upper(): value for key, value in labels.items()}
        if not wanted.keys() & set(self._groups[1:]):
            raise ValueError(
                f"none of the labels {sorted(labels)} is an entity group of {model!r}; "
                f"its labels are {[id2label[i] for i in range(len(id2label))]}"
            )
        self._types = wanted
        self._prefixes = [prefix for prefix, _ in split]
        # probs @ matrix sums B-/I-/E-/S- probabilities into one probability per group.
        self._group_matrix = np.zeros((len(split), len(self._groups)), dtype=np.float32)
        for label_id, (_, group) in enumerate(split):
            self._group_matrix[label_id, self._groups.index(group)] = 1.0
        self._group_labels = [np.flatnonzero(self._group_matrix[:, g]) for g in range(len(self._groups))]

        self._batch_size = batch_size
        self._max_length = max_length
        self._stride = stride
        self._min_score = min_score
        self._device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
        self._model.to(self._device)
        self._model.eval()
        self._pad_id = self._tokenizer.pad_token_id if self._tokenizer.pad_token_id is not None else 0

    def detect(self, texts: list[str]) -> list[list[Span]]:
        """Sorted, non-overlapping ``(start, end, type)`` spans per text; ``[]`` for empty or None texts."""
        todo = [i for i, text in enumerate(texts) if text]
        results: list[list[Span]] = [[] for _ in texts]
        for i, doc in zip(todo, self._docs([texts[i] for i in todo]), strict=True):
            results[i] = self._spans(texts[i], doc)
        return results

    def token_probabilities(self, texts: list[str]) -> list[np.ndarray]:
        """Per text, ``[content tokens, labels]`` softmax probabilities, each token's from the
        window that gives it the most context (what ``detect`` decides from); empty texts give
        ``[0, labels]``."""
        todo = [i for i, text in enumerate(texts) if text]
        results = [np.zeros((0, len(self._prefixes)), dtype=np.float32) for _ in texts]
        for i, doc in zip(todo, self._docs([texts[i] for i in todo]), strict=True):
            results[i] = doc.probs
        return results

    def _docs(self, texts: list[str]) -> list[_Doc]:
        """Tokenize non-empty texts into windows and score them: the per-text token state."""
        if not texts:
            return []
        encoded = self._tokenizer(
            texts,
            truncation=True,
            max_length=self._max_length,
            stride=self._stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        docs, windows = self._layout(encoded)
        self._score(encoded["input_ids"], windows, docs)
        return docs

    def _layout(self, encoded: BatchEncoding) -> tuple[list[_Doc], list[tuple[int, int, np.ndarray]]]:
        """Place every window's content tokens at their index in the whole text.

        Consecutive windows of a text overlap by exactly ``stride`` tokens, so window k+1 starts
        ``len(window k) - stride`` content tokens after window k. Returns the per-text state and,
        per window, ``(doc, first global token, positions of content tokens in the window)``.
        """
        windows: list[tuple[int, int, np.ndarray]] = []
        per_doc: dict[int, list[int]] = {}
        next_start: dict[int, int] = {}
        for w, doc_index in enumerate(encoded["overflow_to_sample_mapping"]):
            # Special tokens ([CLS], [SEP], <s>) have no sequence id; everything else is text.
            sequence_ids = encoded.sequence_ids(w)
            positions = np.array([p for p, seq in enumerate(sequence_ids) if seq is not None], dtype=np.int64)
            start = next_start.get(doc_index, 0)
            windows.append((doc_index, start, positions))
            per_doc.setdefault(doc_index, []).append(w)
            next_start[doc_index] = start + len(positions) - self._stride
        docs = []
        for doc_index in range(len(per_doc)):
            last = windows[per_doc[doc_index][-1]]
            n = last[1] + len(last[2])
            offsets = np.zeros((n, 2), dtype=np.int64)
            word_ids = np.full(n, -1, dtype=np.int64)
            for w in per_doc[doc_index]:
                _, start, positions = windows[w]
                # Overlapping windows write the same values: offsets and word ids are text-global.
                window_words = np.array([-1 if i is None else i for i in encoded.word_ids(w)], dtype=np.int64)
                window_offsets = np.asarray(encoded["offset_mapping"][w], dtype=np.int64)
                offsets[start : start + len(positions)] = window_offsets[positions]
                word_ids[start : start + len(positions)] = window_words[positions]
            docs.append(_Doc(offsets, word_ids, np.zeros((n, len(self._prefixes)), dtype=np.float32)))
        return docs, windows

    @torch.inference_mode()
    def _score(self, input_ids: list[list[int]], windows: list[tuple[int, int, np.ndarray]], docs: list[_Doc]) -> None:
        """Run the model over all windows and keep, per token, the prediction with the most context."""
        # One window per call on CPU, length-sorted padded batches on a GPU (module docstring, step 2).
        window_probs: list[np.ndarray | None] = [None] * len(windows)
        for batch in forward_groups([len(x) for x in input_ids], self._batch_size, self._device):
            ids, mask = collate([input_ids[w] for w in batch], self._pad_id)
            logits = self._model(input_ids=ids.to(self._device), attention_mask=mask.to(self._device)).logits
            probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
            for row, w in enumerate(batch):
                window_probs[w] = probs[row]
        # Applied in window order, whatever order they ran in: of two windows giving a token equal
        # context the earlier one wins, on every device and batch size.
        for w, (doc_index, start, positions) in enumerate(windows):
            doc = docs[doc_index]
            local = np.arange(len(positions))
            context = np.minimum(local, len(positions) - 1 - local)
            tokens = start + local
            better = context > doc.context[tokens]
            doc.probs[tokens[better]] = window_probs[w][positions[better]]
            doc.context[tokens[better]] = context[better]

    def _spans(self, text: str, doc: _Doc) -> list[Span]:
        """Aggregate tokens into words and words into entities; keep the confident, mapped ones."""
        group_probs = doc.probs @ self._group_matrix
        # Entities as [group, first token, last token]; a word is a run of tokens sharing a word id
        # (tokens without one, e.g. added tokens, stand alone), so an entity never splits a word.
        entities: list[list[int]] = []
        is_open = False
        n = len(doc.word_ids)
        begin = 0
        while begin < n:
            end = begin + 1
            while end < n and doc.word_ids[end] >= 0 and doc.word_ids[end] == doc.word_ids[begin]:
                end += 1
            group = int(group_probs[begin:end].mean(axis=0).argmax())
            if group == _OUTSIDE:
                is_open = False
            else:
                if is_open and entities[-1][0] == group and self._prefix(doc, begin, group) not in _BEGINS:
                    entities[-1][2] = end - 1
                else:
                    entities.append([group, begin, end - 1])
                is_open = self._prefix(doc, end - 1, group) not in _ENDS
            begin = end

        spans: list[Span] = []
        for group, first, last in entities:
            pii_type = self._types.get(self._groups[group])
            if pii_type is None or group_probs[first : last + 1, group].mean() < self._min_score:
                continue
            start, stop = int(doc.offsets[first, 0]), int(doc.offsets[last, 1])
            while start < stop and text[start].isspace():
                start += 1
            while stop > start and text[stop - 1].isspace():
                stop -= 1
            if start < stop:
                spans.append((start, stop, pii_type))
        return spans

    def _prefix(self, doc: _Doc, token: int, group: int) -> str:
        """The tag prefix (B, I, E, S, L, U or "") of the token's likeliest label within ``group``."""
        candidates = self._group_labels[group]
        return self._prefixes[int(candidates[doc.probs[token, candidates].argmax()])]
