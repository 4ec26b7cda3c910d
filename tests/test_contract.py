"""The contract lives in one module: readers and stages import it, readers import no stage."""
import ast
from pathlib import Path

from curate import contract
from curate.stages import base

PACKAGE = Path(contract.__file__).parent


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_readers_import_the_contract_and_no_stage():
    for path in sorted((PACKAGE / "readers").glob("*.py")):
        modules = _imports(path)
        assert not any(m.startswith("curate.stages") for m in modules), path.name
    assert "curate.contract" in _imports(PACKAGE / "readers" / "batch.py")


def test_one_definition_of_each_contract_type():
    for name in ("StageParams", "StageOutput", "ScoreHistogram", "reject_rows", "Resources"):
        assert getattr(base, name) is getattr(contract, name)  # re-exported, not redefined
        defining = [p for p in PACKAGE.rglob("*.py") if f"\nclass {name}" in p.read_text() or f"\ndef {name}(" in p.read_text()]
        assert defining == [PACKAGE / "contract.py"], (name, defining)
