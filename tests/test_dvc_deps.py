"""Every source file a stage imports is in that stage's `deps` (else DVC's cache goes stale)."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def _module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, module: str) -> set[str]:
    """Names of the vreid modules that ``path`` (module ``module``) imports."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "vreid"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target.split(".")[0] != "vreid":
                continue
            out.add(target)
            out |= {f"{target}.{a.name}" for a in node.names if _module_file(f"{target}.{a.name}")}
    return {m for m in out if _module_file(m) is not None}


def transitive_sources(module: str) -> set[Path]:
    """Files of ``module``, the packages above it, and everything they import, transitively."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        parts = m.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent __init__ files
        todo += sorted(_imports(_module_file(m), m))
    return {_module_file(m).relative_to(ROOT) for m in seen}


def test_every_imported_source_file_is_a_dep():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    missing = {}
    for name, stage in stages.items():
        cmd = stage["cmd"]
        if "python -m vreid." not in cmd:
            continue
        module = cmd.split("python -m ", 1)[1].split()[0]
        deps = [str(d) if isinstance(d, str) else next(iter(d)) for d in stage.get("deps", [])]
        for f in sorted(transitive_sources(module)):
            covered = any(str(f) == d or str(f).startswith(d.rstrip("/") + "/") for d in deps)
            if not covered:
                missing.setdefault(name, []).append(str(f))
    assert not missing, f"files imported by a stage but missing from its deps: {missing}"
