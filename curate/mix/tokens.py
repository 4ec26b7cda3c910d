"""Token counts with a real tokenizer (Hugging Face ``tokenizers``, one ``tokenizer.json``).

The default is the WordPiece tokenizer shipped with all-MiniLM-L6-v2 (installed offline by the
Makefile); any other ``tokenizer.json`` (e.g. a Llama or GPT-2 BPE saved by ``tokenizers``) is
given by path. Counts exclude special tokens, and truncation and padding that a tokenizer file
may carry (MiniLM's truncates at 128) are switched off: the count is the document's length.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np


class TokenizerError(ValueError):
    pass


def resolve_tokenizer(reference: str) -> str:
    """Absolute path of the ``tokenizer.json`` that ``reference`` names: ``builtin:<model>`` (a
    model folder from ``curate.models``), a folder holding ``tokenizer.json``, or the file."""
    from curate.models import resolve_model
    from curate.models.resolve import ModelReferenceError

    try:
        path = Path(resolve_model(reference, expect="any"))
    except ModelReferenceError as e:
        raise TokenizerError(str(e)) from None
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise TokenizerError(f"tokenizer {reference!r}: {path} not found (a tokenizer.json saved by the `tokenizers` library is needed)")
    try:
        _load(str(path))
    except Exception as e:  # tokenizers raises a bare Exception for a bad file
        raise TokenizerError(f"tokenizer {reference!r}: {path} is not a tokenizers file ({e})") from None
    return str(path)


@lru_cache(maxsize=4)
def _load(path: str):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(path)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


@lru_cache(maxsize=16)
def tokenizer_sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class TokenCounter:
    """Loaded once per worker process (cached by path)."""

    def __init__(self, path: str):
        self.path = path
        self.tokenizer = _load(path)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def encode(self, texts: list[str | None]) -> list[np.ndarray]:
        """Token ids of each text (no special tokens), as uint32 arrays."""
        encodings = self.tokenizer.encode_batch([t or "" for t in texts], add_special_tokens=False)
        return [np.asarray(e.ids, dtype=np.uint32) for e in encodings]

    def count(self, texts: list[str | None]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch([t or "" for t in texts], add_special_tokens=False)
        return np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
