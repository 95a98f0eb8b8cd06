"""What the package imports, it declares: `pip install .` alone must give a gateway that starts.

The test environment holds every dev tool (httpx, the SDKs, redis, playwright...), so a module that
imports one of them at the top passes every other test and still fails for a user who installed
the package as the README says. Here each import in src/ is checked against what pyproject.toml
declares: one at module level against the runtime dependencies (and what they pull in), one inside
a function (loaded only when a feature is used) against those or an optional extra.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "gemini_gateway"


def _project() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]  # type: ignore[no-any-return]


@cache
def _closure(requirements: tuple[str, ...]) -> frozenset[str]:
    """The distributions these requirements install, with everything they require in turn."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        key = name + "[" + ",".join(sorted(requirement.extras)) + "]"
        if key in seen:
            continue
        seen.add(key)
        seen.add(name)
        try:
            requires = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            inner = Requirement(line)
            wanted = inner.marker is None or any(
                inner.marker.evaluate({"extra": extra}) for extra in (requirement.extras or {""})
            )
            if wanted:
                todo.append(inner)
    return frozenset(s for s in seen if "[" not in s)


def _runtime() -> frozenset[str]:
    return _closure(tuple(_project()["dependencies"]))  # type: ignore[arg-type]


def _with_extras() -> frozenset[str]:
    extras: dict[str, list[str]] = _project()["optional-dependencies"]  # type: ignore[assignment]
    wanted = [r for name, reqs in extras.items() if name != "dev" for r in reqs]
    return _runtime() | _closure(tuple(wanted))


def _imports(tree: ast.Module) -> list[tuple[str, bool, int]]:
    """(top-level module, imported at module level, line) of each absolute import, leaving out
    those under `if TYPE_CHECKING:` (never run) and those in a `try:` that handles ImportError
    (optional by design, e.g. zstandard)."""
    found: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Try) and any(
                h.type is not None and "ImportError" in ast.unparse(h.type) for h in child.handlers
            ):
                for rest in [*child.handlers, *child.orelse, *child.finalbody]:
                    visit(rest, top)
                continue
            if isinstance(child, ast.Import):
                found.extend((a.name.split(".")[0], top, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module.split(".")[0], top, child.lineno))
            inner = top and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(child, inner)

    visit(tree, True)
    return found


def test_every_import_is_declared() -> None:
    owners = metadata.packages_distributions()
    runtime, optional = _runtime(), _with_extras()
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for module, top, line in _imports(ast.parse(path.read_text(), str(path))):
            if module in sys.stdlib_module_names or module == "gemini_gateway":
                continue
            dists = {canonicalize_name(d) for d in owners.get(module, [module])}
            allowed = runtime if top else optional
            if not dists & allowed:
                where = f"{path.relative_to(ROOT)}:{line}"
                missing.append(f"{where} imports {module} ({'module level' if top else 'when used'})")
    assert not missing, "imports pyproject.toml does not declare:\n" + "\n".join(missing)


def test_the_check_sees_an_undeclared_import() -> None:
    """The check itself: a dev-only package at module level is caught, inside a function it needs
    an extra."""
    tree = ast.parse(
        "import httpx\n\ndef f():\n    import playwright\n"
        "try:\n    import zstandard\nexcept ImportError:\n    pass\n"
    )
    assert _imports(tree) == [("httpx", True, 1), ("playwright", False, 4)]
    assert canonicalize_name("httpx") not in _runtime()
    assert canonicalize_name("playwright") in _with_extras()
    assert re.fullmatch(r"[a-z0-9-]+", canonicalize_name("PyYAML"))
