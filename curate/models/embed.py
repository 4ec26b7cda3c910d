"""Text embeddings from a Hugging Face encoder: mean over the tokens, then unit length.

This is what sentence-transformers does for all-MiniLM-L6-v2 (its ``1_Pooling`` config says
``pooling_mode_mean_tokens``, then a ``Normalize`` module), done with ``transformers`` alone so no
sentence-transformers install is needed: ``AutoTokenizer`` + ``AutoModel`` from a folder or hub id,
truncation to ``max_tokens``, the attention mask so padding does not count, then L2 normalisation
(so a dot product is a cosine similarity).

A text's embedding depends on that text alone (given the model, device and thread count): on CPU
each text runs in its own forward call at its own token length, never padded; on a GPU texts are
sorted by length and padded ``batch_size`` at a time, which can move the last float32 bits with
the batch (``curate.models.batching`` has the measurements). One encoder per actor: loading
MiniLM takes ~1 s and 90 MB.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from curate.models.batching import collate, forward_groups


class MeanPooledEncoder:
    def __init__(self, model: str, *, max_tokens: int = 256, batch_size: int = 32, device: str | None = None,
                 torch_threads: int | None = None):
        import torch
        from transformers import AutoModel, AutoTokenizer

        if torch_threads:
            # Process-wide: the reduction split, hence the last bits of every output, follows it.
            torch.set_num_threads(torch_threads)
        self.torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        # A text is read from its start, whatever side the tokenizer was saved with.
        self.tokenizer.truncation_side = "right"
        self.model = AutoModel.from_pretrained(model).to(self.device).eval()
        positions = getattr(self.model.config, "max_position_embeddings", None) or max_tokens
        self.max_tokens = min(max_tokens, positions)
        if not getattr(self.tokenizer, "is_fast", False):
            # Truncation is detected from the fast tokenizer's overflow windows (see token_ids()).
            raise ValueError(f"the tokenizer of {model!r} is not a fast (Rust) tokenizer, which MeanPooledEncoder needs")
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.batch_size = batch_size
        self.dimension = int(self.model.config.hidden_size)
        # Counters for the stage: how much the model read, and how long it took.
        self.tokens_read = 0
        self.truncated = 0
        self.seconds = 0.0

    def token_ids(self, texts: Sequence[str]) -> tuple[list[list[int]], list[bool]]:
        """The ids the model reads (special tokens included, at most ``max_tokens``) and whether
        each text had more."""
        # A token is at least one character (CJK) and ~4 for English: the head of max_tokens * 8
        # characters holds every token the model reads, and tokenizing a 100 kB page whole would
        # cost more than the forward pass.
        limit = self.max_tokens * 8
        # Truncation on, so the tokenizer never holds a sequence longer than the model (it warns
        # "Token indices sequence length is longer than ..." about those); the overflow windows
        # tell a truncated text from one that just fits, in the same call.
        encoded = self.tokenizer([text[:limit] for text in texts], truncation=True, max_length=self.max_tokens,
                                 return_overflowing_tokens=True, return_attention_mask=False)
        ids: list[list[int] | None] = [None] * len(texts)
        truncated = [len(text) > limit for text in texts]
        for window, sample in enumerate(encoded["overflow_to_sample_mapping"]):
            if ids[sample] is None:
                ids[sample] = list(encoded["input_ids"][window])
            else:
                truncated[sample] = True
        return ids, truncated  # type: ignore[return-value]

    def encode(self, texts: Sequence[str | None]) -> np.ndarray:
        """(len(texts), dimension) float32, rows of unit length; an empty text gets a zero row."""
        started = time.perf_counter()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        todo = [i for i, t in enumerate(texts) if t and not t.isspace()]
        if not todo:
            return out
        ids, truncated = self.token_ids([texts[i] for i in todo])
        self.truncated += sum(truncated)
        torch = self.torch
        with torch.inference_mode():
            for group in forward_groups([len(x) for x in ids], self.batch_size, self.device):
                input_ids, attention_mask = collate([ids[j] for j in group], self.pad_id)
                input_ids, attention_mask = input_ids.to(self.device), attention_mask.to(self.device)
                hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                summed = (hidden * mask).sum(dim=1)
                counts = mask.sum(dim=1).clamp(min=1.0)
                pooled = torch.nn.functional.normalize(summed / counts, p=2, dim=1)
                self.tokens_read += int(attention_mask.sum())
                out[[todo[j] for j in group]] = pooled.float().cpu().numpy()
        self.seconds += time.perf_counter() - started
        return out
