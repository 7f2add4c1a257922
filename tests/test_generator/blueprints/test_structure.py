"""The blueprints' shape, enforced: blueprints share code only through parts/ (function length: the
product-wide check in tests/test_pipeline/test_architecture.py)."""

from __future__ import annotations

import ast
from pathlib import Path

from generator.blueprints import BLUEPRINTS
from tests.support.paths import ROOT

PACKAGE = "generator.blueprints"
BLUEPRINTS_DIR = ROOT / "generator" / "blueprints"
# Modules directly in generator/blueprints/ that are not blueprints: the registry and the shared base.
NOT_BLUEPRINTS = ("__init__", "base")


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _blueprint_modules() -> set[str]:
    return {p.stem for p in BLUEPRINTS_DIR.glob("*.py") if p.stem not in NOT_BLUEPRINTS}


def _imports(path: Path) -> list[tuple[int, list[str]]]:
    """Per import statement of `path`: its line and the dotted modules it may load (for `from a import b`,
    a and a.b, since b may be a module)."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.append((node.lineno, [alias.name for alias in node.names]))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            out.append((node.lineno, [base, *(f"{base}.{alias.name}" for alias in node.names)]))
    return out


def _blueprint_of(module: str, blueprints: set[str]) -> str | None:
    """The blueprint module `module` is or lies in, if any."""
    if not module.startswith(f"{PACKAGE}."):
        return None
    name = module.removeprefix(f"{PACKAGE}.").split(".")[0]
    return name if name in blueprints else None


def test_no_blueprint_module_imports_another() -> None:
    blueprints = _blueprint_modules()
    offenders = []
    for path in sorted(BLUEPRINTS_DIR.rglob("*.py")):
        if path == BLUEPRINTS_DIR / "__init__.py":
            continue
        own = path.stem if path.parent == BLUEPRINTS_DIR else None
        for line, modules in _imports(path):
            hits = sorted({b for m in modules if (b := _blueprint_of(m, blueprints)) and b != own})
            offenders.extend(f"{_relative(path)}:{line} imports {PACKAGE}.{b}" for b in hits)
    assert not offenders, (
        "blueprint modules share code only through generator/blueprints/parts/:\n" + "\n".join(offenders)
    )


def test_the_blueprints_folder_holds_only_registered_blueprints() -> None:
    registered = {b.module.removeprefix(f"{PACKAGE}.") for b in BLUEPRINTS}
    assert _blueprint_modules() == registered, (
        "generator/blueprints/ holds __init__.py, base.py, parts/ and one module per registered blueprint; "
        "move helpers of a blueprint under parts/"
    )
