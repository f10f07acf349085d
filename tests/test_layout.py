"""The code's shape: no module reaches into another's private names, and no module grows past 500 lines."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHECKED = ("engage", "dashboards", "benchmarks", "migrations", "tests")
SIZED = ("engage", "dashboards")
MAX_LINES = 500


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (REPO / folder).rglob("*.py") if "__pycache__" not in p.parts)


def private(name: str) -> bool:
    """_name, but not __dunder__ (__version__, __future__)."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(source: str) -> list[str]:
    """Each `import a._b`, `from a._b import c` and `from a import _b` in the source (relative ones too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if any(private(part) for part in alias.name.split("."))]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if any(private(part) for part in (node.module or "").split(".")):
                found.append(f"from {module} import ...")
            found += [f"from {module} import {alias.name}" for alias in node.names if private(alias.name)]
    return found


def test_the_checker_sees_every_form_of_private_import() -> None:
    source = (
        "from __future__ import annotations\n"
        "import os.path, dash._callback\n"
        "from engage.store.database import Store, _sqlite_file\n"
        "from ._impl import thing\n"
        "from . import _helper\n"
        "def f():\n    from x import _late\n"
        "from x import __version__\n"
    )
    assert private_imports(source) == [
        "dash._callback",
        "from engage.store.database import _sqlite_file",
        "from ._impl import ...",
        "from . import _helper",
        "from x import _late",
    ]


def test_no_module_imports_another_modules_private_names() -> None:
    offenders = [
        f"{path.relative_to(REPO)}: {line}"
        for path in python_files(*CHECKED)
        for line in private_imports(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "private names imported across modules (make them public or move the code):\n" + "\n".join(
        offenders
    )


def test_no_module_is_over_500_lines() -> None:
    offenders = [
        f"{path.relative_to(REPO)}: {n} lines"
        for path in python_files(*SIZED)
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    assert offenders == [], f"modules over {MAX_LINES} lines (split them):\n" + "\n".join(offenders)
