"""The one place the harness finds ``../shared`` (the labelled real data beside a checkout).

``SHARED`` is the folder beside the repository, or ``$CURATE_SHARED`` when set. The product never
reads it: only ``evals/``, ``bench/``, ``classifiers/`` recipes and the tests do.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CURATE_SHARED") or (REPO.parent / "shared")).resolve()


def shared_path(*parts: str, shared: Path | None = None) -> Path:
    """``SHARED/<parts>``; FileNotFoundError naming it when it is not there."""
    path = (shared or SHARED).joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: ../shared (or $CURATE_SHARED) holds the labelled data the harness reads")
    return path
