"""Small heads over unit-length text embeddings (``curate.models.embed``).

* ``LogisticHead`` — P(positive) = sigmoid(w · e + b). Trained by ``fit_logistic`` (L2-regularised
  Newton iterations in NumPy: with a few hundred labelled documents and 384 dimensions the exact
  solution takes milliseconds, and no scikit-learn is needed), stored as JSON with its encoder,
  token limit and training metrics, so the file says what it must be paired with.
* ``ZeroShotHead`` — a label per written description: each label's prototype is the normalised mean
  embedding of its descriptions, and a text's probabilities are softmax(cosine / temperature).
  The descriptions live in a taxonomy file (``classifiers/domain/taxonomy.json``), so changing a
  category is an edit to a text file, not a retraining.

Gates. An embedding says what a text is *about*; whether it *contains* code or formulas is a
question of form, which a mean-pooled sentence embedding blurs (measured on the sample corpus:
zero-shot alone called 5 % of prose technology articles "code"). A head may therefore name, per
label, a gate from ``GATES`` — a test on the text itself — and a ``fallback`` label: when a
label's gate fails, its probability moves to the fallback. ``code_lines`` asks for at least
``GATE_MIN_LINES`` lines that read as code, ``math_lines`` for as many lines with a formula.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from curate.metrics import roc_auc, stratified_folds

LOGISTIC_FORMAT = "curate.logistic_head/1"
TAXONOMY_FORMAT = "curate.taxonomy/1"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


def fit_logistic(features: np.ndarray, labels: np.ndarray, l2: float = 1.0, iterations: int = 50,
                 sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """(weights, bias) minimising the weighted log-loss + ``l2``/2 · |w|² (the bias unpenalised).

    ``labels`` are 0/1, or probabilities in [0, 1] (soft targets: a teacher's P(positive), so a
    student learns how sure the teacher was, not only which side of 0.5 it fell)."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if np.any(~((y >= 0.0) & (y <= 1.0))) or not (np.any(y < 0.5) and np.any(y >= 0.5)):
        raise ValueError("fit_logistic needs labels in [0, 1] with both classes present (some < 0.5, some >= 0.5)")
    n, d = x.shape
    weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    design = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros(d + 1)
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = _sigmoid(design @ theta)
        gradient = design.T @ (weight * (p - y)) + penalty * theta
        hessian = (design * (weight * p * (1 - p))[:, None]).T @ design + np.diag(penalty) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return theta[:-1], float(theta[-1])


# The regularisation grid of the heads' recipes: chosen by cross-validation inside each training fold.
L2_GRID = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


def cv_predictions(x: np.ndarray, y: np.ndarray, folds: list[int], l2: float) -> np.ndarray:
    out = np.zeros(len(y))
    for fold in sorted(set(folds)):
        test = np.array([f == fold for f in folds])
        w, b = fit_logistic(x[~test], y[~test], l2=l2)
        out[test] = 1 / (1 + np.exp(-(x[test] @ w + b)))
    return out


def choose_l2(x: np.ndarray, y: np.ndarray, folds: int, seed: int) -> float:
    inner = stratified_folds(y.tolist(), folds, seed)
    scored = [(roc_auc(cv_predictions(x, y, inner, l2).tolist(), y.tolist()), -l2, l2) for l2 in L2_GRID]
    return max(scored)[2]  # best AUC; ties -> the stronger regularisation


def nested_cv(x: np.ndarray, y: np.ndarray, folds: int, seed: int) -> tuple[np.ndarray, list[float]]:
    outer = stratified_folds(y.tolist(), folds, seed)
    out = np.zeros(len(y))
    chosen = []
    for fold in range(folds):
        test = np.array([f == fold for f in outer])
        l2 = choose_l2(x[~test], y[~test], folds - 1, seed + 1 + fold)
        chosen.append(l2)
        w, b = fit_logistic(x[~test], y[~test], l2=l2)
        out[test] = 1 / (1 + np.exp(-(x[test] @ w + b)))
    return out, chosen


@dataclass
class LogisticHead:
    weights: np.ndarray
    bias: float
    encoder: str
    max_tokens: int
    positive_label: str = "high_quality"
    metrics: dict = field(default_factory=dict)

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """P(positive) per row; rows of zeros (empty texts) give NaN, not a score."""
        scores = _sigmoid(np.asarray(embeddings, dtype=np.float64) @ self.weights + self.bias)
        empty = ~np.any(embeddings, axis=1)
        scores[empty] = np.nan
        return scores

    def save(self, path: str | Path) -> None:
        body = {
            "format": LOGISTIC_FORMAT, "encoder": self.encoder, "max_tokens": self.max_tokens,
            # Rounded like the weights: BLAS threading moves the last bits of a refit, not these.
            "positive_label": self.positive_label, "bias": round(float(self.bias), 8),
            "weights": [round(float(w), 8) for w in self.weights], "metrics": self.metrics,
        }
        Path(path).write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> LogisticHead:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
        if body.get("format") != LOGISTIC_FORMAT:
            raise ValueError(f"{path}: not a {LOGISTIC_FORMAT} file (format={body.get('format')!r})")
        return cls(np.asarray(body["weights"], dtype=np.float64), float(body["bias"]), body["encoder"],
                   int(body["max_tokens"]), body.get("positive_label", "high_quality"), body.get("metrics", {}))


_CODE_LINE = re.compile(
    r"""^\s*(?:def\s+\w+\s*\(|class\s+\w+|import\s+[\w.]+|from\s+[\w.]+\s+import\b|return\b|elif\b|else\s*:|try\s*:|except\b|"""
    r"""for\s+\w+\s+in\b|while\s*\(|if\s*\(|for\s*\(|\#include\b|function\s+\w*\s*\(|(?:var|let|const)\s+\w+\s*=|"""
    r"""(?:public|private|static|void)\s+\w+|SELECT\s+.+\s+FROM\b|\$\s+\w+|>>>\s)"""
    r"""|^.*(?:[;{}]|\)\s*:)\s*$"""
    r"""|^\s*[A-Za-z_][\w.\[\]]*\s*(?:[-+*/]?=)\s*[\w\[\]("'{<-].*$""")
_MATH_LINE = re.compile(
    r"""\\(?:frac|sum|int|sqrt|alpha|beta|theta|lambda|pi|cdot|times|leq|geq|infty|partial|mathbb|begin|left|right)\b"""
    r"""|[∑∫√∞≤≥±×÷∂∇≈≠]"""
    r"""|\$[^$\n]{1,200}\$"""
    r"""|(?:^|[\s(])[A-Za-z0-9)\]]+\s*[-+*/^]\s*[A-Za-z0-9(]+.*[=<>]\s*[-A-Za-z0-9(]""")
GATE_MIN_LINES = 2


def _code_lines(text: str) -> bool:
    return sum(1 for line in text.splitlines() if line.strip() and _CODE_LINE.match(line)) >= GATE_MIN_LINES


def _math_lines(text: str) -> bool:
    return sum(1 for line in text.splitlines() if _MATH_LINE.search(line)) >= GATE_MIN_LINES


GATES = {"code_lines": _code_lines, "math_lines": _math_lines}


LABEL_FORMAT = "curate.label_head/1"


def apply_gates(probabilities: np.ndarray, texts, gates: dict, fallback: int) -> None:
    """In place: for each column whose gate (a test on the text) fails, its probability moves to
    the ``fallback`` column."""
    if texts is None or len(texts) != len(probabilities):
        raise ValueError("this head has gates: predict needs the texts")
    for row, text in enumerate(texts):
        for column, gate in gates.items():
            if probabilities[row, column] and not gate(text or ""):
                probabilities[row, fallback] += probabilities[row, column]
                probabilities[row, column] = 0.0


def fit_softmax(features: np.ndarray, labels: list[str], l2: float = 0.1) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Multinomial logistic regression: (label names, weights (labels x dims), biases) minimising
    the mean log-loss + ``l2``/2 · |W|² (biases unpenalised), by L-BFGS from zeros (deterministic)."""
    from scipy.optimize import minimize

    names = sorted(set(labels))
    if len(names) < 2:
        raise ValueError("fit_softmax needs at least two labels")
    x = np.asarray(features, dtype=np.float64)
    y = np.array([names.index(label) for label in labels])
    n, d = x.shape
    k = len(names)
    onehot = np.zeros((n, k))
    onehot[np.arange(n), y] = 1.0

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[: k * d].reshape(k, d), theta[k * d:]
        logits = x @ w.T + b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        value = -np.sum(onehot * np.log(np.maximum(p, 1e-300))) / n + 0.5 * l2 * np.sum(w * w)
        residual = (p - onehot) / n
        grad = np.concatenate([(residual.T @ x + l2 * w).ravel(), residual.sum(axis=0)])
        return value, grad

    result = minimize(loss, np.zeros(k * d + k), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return names, result.x[: k * d].reshape(k, d), result.x[k * d:]


@dataclass
class LabelHead:
    """P(label) = softmax(W · e + b) over a text embedding, with optional gates (``GATES``: a
    label whose gate fails on the text gives its probability to ``fallback``), stored as JSON with
    the embeddings it was trained on."""

    labels: list[str]
    weights: np.ndarray
    biases: np.ndarray
    encoder: str
    max_tokens: int
    gates: dict[str, str] = field(default_factory=dict)
    fallback: str | None = None
    metrics: dict = field(default_factory=dict)

    def predict(self, embeddings: np.ndarray, texts=None) -> np.ndarray:
        """(rows, labels) probabilities; zero rows (empty texts) give NaN rows."""
        logits = np.asarray(embeddings, dtype=np.float64) @ self.weights.T + self.biases
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        if self.gates:
            gates = {self.labels.index(label): GATES[gate] for label, gate in self.gates.items()}
            apply_gates(probabilities, texts, gates, self.labels.index(self.fallback))
        probabilities[~np.any(embeddings, axis=1)] = np.nan
        return probabilities

    def save(self, path: str | Path) -> None:
        body = {"format": LABEL_FORMAT, "encoder": self.encoder, "max_tokens": self.max_tokens, "labels": self.labels,
                "gates": self.gates, "fallback": self.fallback, "biases": [round(float(b), 8) for b in self.biases],
                "weights": [[round(float(w), 8) for w in row] for row in self.weights], "metrics": self.metrics}
        Path(path).write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> LabelHead:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
        if body.get("format") != LABEL_FORMAT:
            raise ValueError(f"{path}: not a {LABEL_FORMAT} file (format={body.get('format')!r})")
        weights = np.asarray(body["weights"], dtype=np.float64)
        labels = list(body["labels"])
        if weights.shape[0] != len(labels) or len(body["biases"]) != len(labels):
            raise ValueError(f"{path}: {len(labels)} labels but weights {weights.shape} and {len(body['biases'])} biases")
        gates = dict(body.get("gates") or {})
        unknown = sorted(g for label, g in gates.items() if g not in GATES or label not in labels)
        if unknown or (gates and body.get("fallback") not in labels):
            raise ValueError(f"{path}: gates must name labels and known gates ({sorted(GATES)}) and a fallback label")
        return cls(labels, weights, np.asarray(body["biases"], dtype=np.float64), body["encoder"], int(body["max_tokens"]),
                   gates, body.get("fallback"), body.get("metrics", {}))


def load_taxonomy(path: str | Path) -> dict:
    """The taxonomy file: ``{"format", "heads": {head: {"temperature", "labels": {label: [descriptions]}}}}``."""
    body = json.loads(Path(path).read_text(encoding="utf-8"))
    if body.get("format") != TAXONOMY_FORMAT:
        raise ValueError(f"{path}: not a {TAXONOMY_FORMAT} file (format={body.get('format')!r})")
    heads = body.get("heads")
    if not isinstance(heads, dict) or not heads:
        raise ValueError(f"{path}: 'heads' must map head names to label descriptions")
    for name, head in heads.items():
        labels = head.get("labels")
        if not isinstance(labels, dict) or len(labels) < 2:
            raise ValueError(f"{path}: heads.{name}.labels needs at least two labels")
        for label, descriptions in labels.items():
            if not isinstance(descriptions, list) or not descriptions or not all(isinstance(d, str) and d.strip() for d in descriptions):
                raise ValueError(f"{path}: heads.{name}.labels.{label} must be a non-empty list of descriptions")
        if not float(head.get("temperature", 0)) > 0:
            raise ValueError(f"{path}: heads.{name}.temperature must be > 0")
        gates = head.get("gates", {})
        for label, gate in gates.items():
            if label not in labels or gate not in GATES:
                raise ValueError(f"{path}: heads.{name}.gates.{label}: label and gate ({sorted(GATES)}) must exist")
        if gates and head.get("fallback") not in labels:
            raise ValueError(f"{path}: heads.{name}.fallback must name one of its labels when it has gates")
    return body


class ZeroShotHead:
    def __init__(self, labels: dict[str, list[str]], temperature: float, encode, gates: dict[str, str] | None = None,
                 fallback: str | None = None):
        """``encode``: texts -> unit-length embeddings (the same encoder the documents go through)."""
        self.labels = list(labels)
        self.temperature = float(temperature)
        self.gates = {self.labels.index(label): GATES[gate] for label, gate in (gates or {}).items()}
        self.fallback = self.labels.index(fallback) if fallback is not None else None
        prototypes = []
        for label in self.labels:
            vectors = encode(labels[label])
            mean = vectors.mean(axis=0)
            prototypes.append(mean / max(np.linalg.norm(mean), 1e-12))
        self.prototypes = np.vstack(prototypes)

    @classmethod
    def from_taxonomy(cls, head: dict, encode) -> ZeroShotHead:
        return cls(head["labels"], head["temperature"], encode, head.get("gates"), head.get("fallback"))

    def predict(self, embeddings: np.ndarray, texts=None) -> np.ndarray:
        """(rows, labels) probabilities; zero rows (empty texts) give NaN rows. With gates, ``texts``
        (the embedded texts) are required: a failed gate moves its label's mass to the fallback."""
        logits = (np.asarray(embeddings, dtype=np.float64) @ self.prototypes.T) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        if self.gates:
            apply_gates(probabilities, texts, self.gates, self.fallback)
        probabilities[~np.any(embeddings, axis=1)] = np.nan
        return probabilities
