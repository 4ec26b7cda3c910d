"""Text embeddings from a Hugging Face encoder: mean over the tokens, then unit length.

This is what sentence-transformers does for all-MiniLM-L6-v2 (its ``1_Pooling`` config says
``pooling_mode_mean_tokens``, then a ``Normalize`` module), done with ``transformers`` alone so no
sentence-transformers install is needed: ``AutoTokenizer`` + ``AutoModel`` from a folder or hub id,
truncation to ``max_tokens``, the attention mask so padding does not count, then L2 normalisation
(so a dot product is a cosine similarity).

Batches are sorted by length before padding (a web page batch mixes 60-token and 5,000-token
texts; padding everything to the longest would waste most of the compute) and returned in the
input order. One encoder per actor: loading MiniLM takes ~1 s and 90 MB.
"""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np


class MeanPooledEncoder:
    def __init__(self, model: str, *, max_tokens: int = 256, batch_size: int = 32, device: str | None = None,
                 torch_threads: int | None = None):
        import torch
        from transformers import AutoModel, AutoTokenizer

        if torch_threads:
            torch.set_num_threads(torch_threads)
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.model = AutoModel.from_pretrained(model).to(self.device).eval()
        positions = getattr(self.model.config, "max_position_embeddings", None) or max_tokens
        self.max_tokens = min(max_tokens, positions)
        self.batch_size = batch_size
        self.dimension = int(self.model.config.hidden_size)
        # Counters for the stage: how much the model read, and how long it took.
        self.tokens_read = 0
        self.truncated = 0
        self.seconds = 0.0

    def encode(self, texts: Sequence[str | None]) -> np.ndarray:
        """(len(texts), dimension) float32, rows of unit length; an empty text gets a zero row."""
        started = time.perf_counter()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        todo = [i for i, t in enumerate(texts) if t and not t.isspace()]
        if not todo:
            return out
        # A token is at least one character (CJK) and ~4 for English: the head of max_tokens * 8
        # characters holds every token the model reads, and tokenizing a 100 kB page whole would
        # cost more than the forward pass.
        limit = self.max_tokens * 8
        heads = [texts[i][:limit] for i in todo]
        encoded = self.tokenizer(heads, add_special_tokens=True, truncation=False, return_attention_mask=False)["input_ids"]
        lengths = [len(ids) for ids in encoded]
        self.truncated += sum(1 for i, n in zip(todo, lengths) if n > self.max_tokens or len(texts[i]) > limit)
        order = sorted(range(len(todo)), key=lambda j: lengths[j])
        torch = self.torch
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start:start + self.batch_size]
                batch = self.tokenizer([heads[j] for j in chunk], padding=True, truncation=True,
                                       max_length=self.max_tokens, return_tensors="pt").to(self.device)
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                summed = (hidden * mask).sum(dim=1)
                counts = mask.sum(dim=1).clamp(min=1.0)
                pooled = torch.nn.functional.normalize(summed / counts, p=2, dim=1)
                self.tokens_read += int(batch["attention_mask"].sum())
                out[[todo[j] for j in chunk]] = pooled.float().cpu().numpy()
        self.seconds += time.perf_counter() - started
        return out
