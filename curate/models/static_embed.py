"""Static token embeddings: a text's vector is the mean of its tokens' rows of one matrix.

No network at scoring time: tokenize (a Hugging Face fast tokenizer, Rust), look up one row per
token, average, scale to unit length. A page costs about what tokenizing it costs, so a static
embedder reads thousands of pages per second per core where the transformer it came from reads
tens — and it can read the whole page, not only its first 256 tokens.

**Distillation** (``distill_static``) follows the recipe model2vec published (Minish Lab, MIT):
every token of the teacher encoder's vocabulary goes through the teacher alone, as
``[CLS] token [SEP]``; its output is mean-pooled (specials included); the matrix is reduced to
``dims`` principal components; row *i* is scaled by a SIF weight ``a / (a + p_i)`` where ``p_i``
is a Zipf estimate of the token's frequency from its rank in the vocabulary (BERT-style
vocabularies are roughly frequency-ordered), so frequent tokens weigh less in the mean.
Implemented here with ``transformers`` and NumPy (model2vec's ``distill`` extra pins
``transformers<5.4``, which the rest of curate must not be held to). Deterministic: the forward
runs one token sequence per row in fixed batches of equal length (three tokens, no padding), PCA
is an eigendecomposition in float64 with each component's sign fixed.

**Files** (a folder; model2vec's layout, so a model2vec model from the Hugging Face hub — e.g.
``minishlab/potion-base-8M`` — loads here too): ``model.safetensors`` with ``embeddings``
(float32, float16, or int8 with a per-row ``scales`` tensor, curate's quantisation), optional
``weights`` (per token) and ``mapping`` (token id -> row, model2vec's vocabulary quantisation);
``tokenizer.json``; ``config.json`` (``normalize``, and curate's own ``curate`` entry recording
the teacher, dimensions and sha256s).
"""
from __future__ import annotations

import functools
import json
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

FORMAT = "curate.static_embeddings/1"
# A token is at least one character and about four in English: the head of max_tokens * 8
# characters holds every token read, and tokenizing a 1 MB page whole would cost more than it says.
CHARS_PER_TOKEN_BOUND = 8
# Recent embeddings per (matrix folder, max_tokens), shared by the embedders of one process: stages
# that read the same embeddings one after the other in a worker (the quality filter, then the
# domain and topic heads) tokenize each text once. A row is a function of its text alone, so a
# reused row is the row that would have been computed. Bounded: about 4 MB per matrix.
RECENT_ROWS = 4096
_RECENT: dict[tuple[str, int], OrderedDict[bytes, np.ndarray]] = {}


# BERT-uncased tokenizers (MiniLM's) normalise with BertNormalizer: drop control characters, map
# whitespace to spaces, lowercase, strip accents (NFD), space out CJK characters. On a text whose
# characters are ASCII or one of these typographic symbols (no case, no accent, no decomposition,
# not control, not CJK), that is exactly "delete the control characters and lowercase", which
# str.translate and str.lower do in C, and the same tokenizer without its normalizer then gives the
# same ids (tests check it on real pages) about 1.2x faster over a corpus (the normalizer's Unicode
# work was a third of the tokenizer's time).
_FAST_SYMBOLS = frozenset("’‘“”„–—…•·«»©®™°€£¥§×÷\xa0′″")
_CONTROL_DELETE = {c: None for c in (*range(0, 9), 11, 12, *range(14, 32), 127)}
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _normalises_like_bert_uncased(tokenizer_json: dict) -> bool:
    n = tokenizer_json.get("normalizer") or {}
    return (n.get("type") == "BertNormalizer" and n.get("lowercase") is True and n.get("clean_text") is True
            and n.get("strip_accents") in (None, True))


def forget_recent() -> None:
    """Drop the shared recent rows (tests that must compute every row use it)."""
    for rows in _RECENT.values():
        rows.clear()


@functools.lru_cache(maxsize=4)
def _load_matrix(path: str, mtime_ns: int, size: int) -> np.ndarray:
    """One float32 matrix per file in a process (read-only): the stages of a worker that read the same
    embeddings share it instead of holding a copy each (~31 MB at 30,522 x 256)."""
    from safetensors.numpy import load_file

    tensors = load_file(path)
    if "embeddings" not in tensors:
        raise ValueError(f"{path} has no 'embeddings' tensor (it has {sorted(tensors)})")
    matrix = tensors["embeddings"]
    if matrix.dtype == np.int8:
        if "scales" not in tensors:
            raise ValueError(f"{path}: int8 embeddings need a 'scales' tensor (one per row)")
        matrix = matrix.astype(np.float32) * tensors["scales"].astype(np.float32)[:, None]
    matrix = matrix.astype(np.float32)
    if "weights" in tensors:  # model2vec's per-token weights of a vocabulary-quantised model
        weights = tensors["weights"].astype(np.float32)
        mapping = tensors.get("mapping")
        rows = matrix[mapping.astype(np.int64)] if mapping is not None else matrix
        matrix = rows * weights[:, None]
    elif "mapping" in tensors:
        matrix = matrix[tensors["mapping"].astype(np.int64)]
    matrix = np.ascontiguousarray(matrix)
    matrix.setflags(write=False)
    return matrix


class StaticEmbedder:
    """Mean-pooled static token embeddings (see the module docstring for the folder layout)."""

    def __init__(self, folder: str | Path, *, max_tokens: int = 1024):
        from tokenizers import Tokenizer

        folder = Path(folder)
        for name in ("model.safetensors", "tokenizer.json"):
            if not (folder / name).is_file():
                raise ValueError(f"{folder}: not a static-embedding folder ({name} missing)")
        config = json.loads((folder / "config.json").read_text(encoding="utf-8")) if (folder / "config.json").is_file() else {}
        stat = (folder / "model.safetensors").stat()
        self.matrix = _load_matrix(str((folder / "model.safetensors").resolve()), stat.st_mtime_ns, stat.st_size)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.bare_tokenizer = None
        if _normalises_like_bert_uncased(json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))):
            self.bare_tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            self.bare_tokenizer.normalizer = None
            self.bare_tokenizer.no_truncation()
            self.bare_tokenizer.no_padding()
        if self.tokenizer.get_vocab_size(with_added_tokens=True) > len(self.matrix) + 1000:
            raise ValueError(f"{folder}: the tokenizer has {self.tokenizer.get_vocab_size()} tokens, the matrix {len(self.matrix)} rows")
        unk = config.get("unk_token") or "[UNK]"
        self.unk_id = self.tokenizer.token_to_id(unk)
        self.normalize = bool(config.get("normalize", True))
        self.max_tokens = int(max_tokens)
        self.dimension = int(self.matrix.shape[1])
        self._recent = _RECENT.setdefault((str(folder.resolve()), self.max_tokens), OrderedDict())
        self.reused = 0
        self.config = config
        self.tokens_read = 0
        self.truncated = 0
        self.seconds = 0.0

    def encodings(self, heads: list[str]) -> list:
        """The tokenizer's encodings of ``heads`` (texts already cut to the character bound), through
        the normaliser-free fast path where it gives the same ids."""
        if self.bare_tokenizer is None:
            return self.tokenizer.encode_batch_fast(heads, add_special_tokens=False)
        fast = [t.isascii() or not set(_NON_ASCII.findall(t)) - _FAST_SYMBOLS for t in heads]
        out: list = [None] * len(heads)
        quick = [i for i, f in enumerate(fast) if f]
        slow = [i for i, f in enumerate(fast) if not f]
        if quick:
            for i, e in zip(quick, self.bare_tokenizer.encode_batch_fast([heads[i].translate(_CONTROL_DELETE).lower() for i in quick],
                                                                         add_special_tokens=False), strict=True):
                out[i] = e
        if slow:
            for i, e in zip(slow, self.tokenizer.encode_batch_fast([heads[i] for i in slow], add_special_tokens=False), strict=True):
                out[i] = e
        return out

    def token_ids(self, texts: Sequence[str]) -> list[np.ndarray]:
        limit = self.max_tokens * CHARS_PER_TOKEN_BOUND
        encodings = self.encodings([t[:limit] for t in texts])
        out = []
        for text, encoding in zip(texts, encodings, strict=True):
            ids = np.asarray(encoding.ids, dtype=np.int64)
            if self.unk_id is not None:
                ids = ids[ids != self.unk_id]
            if len(ids) > self.max_tokens or len(text) > limit:
                self.truncated += 1
            ids = ids[: self.max_tokens]
            ids = ids[ids < len(self.matrix)]
            out.append(ids)
        return out

    def _token_sums(self, ids: list[np.ndarray]) -> np.ndarray:
        """Each text's sum of its tokens' rows, as a (texts x vocabulary) count matrix times the
        embedding matrix: a sparse product reads each distinct token's row once per text instead of
        gathering a row per token (15x faster than gather-then-reduce on 64 web pages). A row's sum
        runs over its own sorted token ids alone, so it is the same whatever else is in the batch,
        to the bit."""
        from scipy.sparse import csr_matrix

        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        counts = csr_matrix((np.ones(int(indptr[-1]), dtype=np.float32), np.concatenate(ids), indptr),
                            shape=(len(ids), len(self.matrix)))
        counts.sum_duplicates()
        return np.asarray(counts @ self.matrix, dtype=np.float64)

    def encode(self, texts: Sequence[str | None]) -> np.ndarray:
        """(len(texts), dimension) float32; unit rows when the model normalises; zero rows for empty
        texts (or texts with no known token). A row depends on its own text alone."""
        import xxhash

        started = time.perf_counter()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        todo = []
        keys: dict[int, bytes] = {}
        for i, t in enumerate(texts):
            if not t or t.isspace():
                continue
            keys[i] = key = xxhash.xxh3_128_digest(t.encode("utf-8", "surrogatepass"))
            row = self._recent.get(key)
            if row is None:
                todo.append(i)
            else:
                out[i] = row
                self.reused += 1
        if todo:
            ids = self.token_ids([texts[i] for i in todo])
            lengths = np.array([len(x) for x in ids])
            self.tokens_read += int(lengths.sum())
            nonempty = lengths > 0
            if nonempty.any():
                sums = self._token_sums([x for x in ids if len(x)])
                means = sums / lengths[nonempty][:, None]
                if self.normalize:
                    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
                out[np.asarray(todo)[nonempty]] = means.astype(np.float32)
            for i in todo:
                self._recent[keys[i]] = out[i].copy()
            while len(self._recent) > RECENT_ROWS:
                self._recent.popitem(last=False)
        self.seconds += time.perf_counter() - started
        return out


def local_folder(reference: str) -> str:
    """A local folder for a resolved reference: a path as it is; a hub id through the Hugging Face
    cache (``snapshot_download`` finds a cached snapshot, downloads one where the network allows,
    and fails with its own message under ``HF_HUB_OFFLINE=1`` when nothing is cached)."""
    if Path(reference).is_dir():
        return reference
    from huggingface_hub import snapshot_download

    return snapshot_download(reference, allow_patterns=["model.safetensors", "tokenizer.json", "config.json"])


def sif_weights(rows: int, coefficient: float = 1e-4) -> np.ndarray:
    """a / (a + p_rank): p a Zipf estimate from the row's rank (row 0 the most frequent)."""
    inverse_rank = 1.0 / np.arange(2, rows + 2, dtype=np.float64)
    probability = inverse_rank / inverse_rank.sum()
    return coefficient / (coefficient + probability)


def principal_components(matrix: np.ndarray, dims: int) -> np.ndarray:
    """The rows projected on their first ``dims`` principal components (float64 eigendecomposition
    of the covariance; each component's sign chosen so its largest coefficient is positive, so the
    result does not depend on the LAPACK build's sign convention)."""
    x = np.asarray(matrix, dtype=np.float64)
    centred = x - x.mean(axis=0)
    covariance = centred.T @ centred / max(1, len(x) - 1)
    values, vectors = np.linalg.eigh(covariance)
    order = np.argsort(values)[::-1][:dims]
    vectors = vectors[:, order]
    signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])])
    vectors *= np.where(signs == 0, 1.0, signs)
    return centred @ vectors


def token_outputs(encoder_folder: str | Path, batch_size: int = 512, torch_threads: int | None = None) -> tuple[np.ndarray, dict]:
    """Every vocabulary token through the encoder as ``[CLS] token [SEP]``, mean-pooled: (vocab, hidden)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    if torch_threads:
        torch.set_num_threads(torch_threads)
    tokenizer = AutoTokenizer.from_pretrained(str(encoder_folder))
    model = AutoModel.from_pretrained(str(encoder_folder)).eval()
    vocab = len(tokenizer)
    prefix = [tokenizer.cls_token_id] if tokenizer.cls_token_id is not None else []
    suffix = [tokenizer.sep_token_id] if tokenizer.sep_token_id is not None else []
    out = np.zeros((vocab, model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, vocab, batch_size):
            ids = torch.tensor([[*prefix, i, *suffix] for i in range(start, min(vocab, start + batch_size))], dtype=torch.long)
            hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
            out[start:start + len(ids)] = hidden.mean(dim=1).float().numpy()
    info = {"vocabulary": vocab, "hidden": int(model.config.hidden_size), "unk_token": tokenizer.unk_token}
    return out, info


def quantise_int8(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-row int8: row ≈ q * scale, scale = max|row| / 127."""
    scales = np.abs(matrix).max(axis=1) / 127.0
    scales[scales == 0] = 1.0
    q = np.clip(np.rint(matrix / scales[:, None]), -127, 127).astype(np.int8)
    return q, scales.astype(np.float32)


def distill_static(encoder_folder: str | Path, out_folder: str | Path, *, dims: int = 256, sif_coefficient: float = 1e-4,
                   dtype: str = "int8", teacher_name: str | None = None, batch_size: int = 512) -> dict:
    """Distil ``encoder_folder`` (a Hugging Face encoder) into a static-embedding folder; returns its config."""
    from safetensors.numpy import save_file

    started = time.perf_counter()
    outputs, info = token_outputs(encoder_folder, batch_size=batch_size)
    reduced = principal_components(outputs, dims) if dims and dims < outputs.shape[1] else outputs.astype(np.float64)
    reduced *= sif_weights(len(reduced), sif_coefficient)[:, None]
    out_folder = Path(out_folder)
    out_folder.mkdir(parents=True, exist_ok=True)
    if dtype == "int8":
        q, scales = quantise_int8(reduced)
        tensors = {"embeddings": q, "scales": scales}
    elif dtype in ("float16", "float32"):
        tensors = {"embeddings": reduced.astype(dtype)}
    else:
        raise ValueError(f"dtype must be int8, float16 or float32, not {dtype!r}")
    save_file(tensors, str(out_folder / "model.safetensors"))
    (out_folder / "model.safetensors").chmod(0o644)  # safetensors writes 0600; the folder is shipped
    (out_folder / "tokenizer.json").write_bytes((Path(encoder_folder) / "tokenizer.json").read_bytes())
    config = {
        "model_type": "model2vec", "normalize": True, "hidden_dim": int(reduced.shape[1]), "unk_token": info["unk_token"],
        "curate": {"format": FORMAT, "teacher": teacher_name or str(encoder_folder), "dims": int(reduced.shape[1]),
                   "sif_coefficient": sif_coefficient, "dtype": dtype, "vocabulary": info["vocabulary"],
                   "distill_seconds": round(time.perf_counter() - started, 1)},
    }
    (out_folder / "config.json").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    return config
