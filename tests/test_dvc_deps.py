"""A stage's source `deps` in dvc.yaml are exactly the files its command imports.

Missing one leaves DVC's cache stale (an edit does not re-run the stage); listing an unused one
re-runs the stage for nothing. After moving code, `python tests/test_dvc_deps.py --write`
rewrites the `src/` entries of every stage's deps from the import closure (a folder is listed
as the folder when the stage imports every file in it)."""

from __future__ import annotations

import argparse
import ast
import re
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


def stage_modules() -> dict[str, str]:
    """Stage name -> the ``vreid`` module its command runs (``python -m vreid....``)."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    out = {}
    for name, stage in stages.items():
        m = re.search(r"python -m (vreid[\w.]*)", " ".join(str(stage["cmd"]).split()))
        if m:
            out[name] = m.group(1)
    return out


def dep_paths(stage: dict) -> list[str]:
    """The paths of a stage's ``deps`` (an entry is a path or a one-key mapping)."""
    return [str(d) if isinstance(d, str) else next(iter(d)) for d in stage.get("deps", [])]


def listed_src_deps(stage: dict) -> list[str]:
    return [d.rstrip("/") for d in dep_paths(stage) if d.startswith("src/")]


def _files_under(dep: str) -> set[Path]:
    p = ROOT / dep
    if p.is_dir():
        return {f.relative_to(ROOT) for f in p.rglob("*.py")}
    return {Path(dep)}


def dep_problems(stages: dict) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(missing, unused): per stage, imported files no dep covers, and listed deps (files, or
    folders holding a file) the command never imports."""
    missing: dict[str, list[str]] = {}
    unused: dict[str, list[str]] = {}
    for name, module in stage_modules().items():
        if name not in stages:
            continue
        used = transitive_sources(module)
        deps = listed_src_deps(stages[name])
        covered = set().union(*(_files_under(d) for d in deps)) if deps else set()
        if gaps := sorted(str(f) for f in used - covered):
            missing[name] = gaps
        if extra := sorted(str(f) for f in covered - used):
            unused[name] = extra
    return missing, unused


def expected_src_deps(module: str) -> list[str]:
    """The closure of ``module`` as dep entries: a folder when every file in it is used."""
    used = transitive_sources(module)
    out: set[str] = set()
    for f in used:
        entry = str(f)
        for parent in reversed(f.parents[:-1]):  # the highest folder fully used wins
            if parent == Path("src") or parent == Path("src/vreid"):
                continue
            if _files_under(str(parent)) <= used:
                entry = str(parent)
                break
        out.add(entry)
    return sorted(out)


def test_every_imported_source_file_is_a_dep():
    missing, _ = dep_problems(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
    assert not missing, f"files imported by a stage but missing from its deps: {missing}"


def test_every_listed_source_file_is_imported():
    _, unused = dep_problems(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
    assert not unused, f"deps that the stage never imports (remove them): {unused}"


def test_the_check_sees_a_dropped_or_an_extra_dep():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    name = "recognize"
    deps = stages[name]["deps"]
    loss_file = next(d for d in deps if isinstance(d, str) and d.endswith("losses.py"))
    stages[name]["deps"] = [d for d in deps if d != loss_file] + ["src/vreid/report.py"]
    missing, unused = dep_problems(stages)
    assert missing == {name: [loss_file]}
    assert unused == {name: ["src/vreid/report.py"]}


#: The dep through which a stage sees the dataset's image files (the manifest holds only their
#: paths, so a re-rendered image under the same name would not change it).
DATA_ROOT_DEP = "${data.root}"


def image_reading_stages() -> set[str]:
    """Stages whose script opens the images the manifest points to (``_common.image_source``)."""
    return {
        name
        for name, module in stage_modules().items()
        if "image_source(" in _module_file(module).read_text()
    }


def data_root_problems(stages: dict) -> list[str]:
    """Stages that open the dataset's images without listing ``${data.root}`` in their deps."""
    return sorted(
        name
        for name in image_reading_stages() & set(stages)
        if DATA_ROOT_DEP not in dep_paths(stages[name])
    )


def test_every_stage_reading_the_images_depends_on_them():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert {"viewpoint", "recognize", "cluster"} <= image_reading_stages()
    assert not data_root_problems(stages), (
        f"stages that read the images without `- {DATA_ROOT_DEP}` in their deps (a re-rendered "
        f"image would not re-run them): {data_root_problems(stages)}"
    )


def test_the_data_root_check_sees_a_dropped_dep():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    stages["cluster"]["deps"].remove(DATA_ROOT_DEP)
    assert data_root_problems(stages) == ["cluster"]


def run_cache_blockers(stages: dict) -> dict[str, list[str]]:
    """Per stage, the outputs that make DVC skip its run cache: an ``outs`` entry with
    ``cache: false`` or ``persist: true`` (DVC keeps uncached files in the run cache only when
    they are declared as ``metrics`` or ``plots``)."""
    out: dict[str, list[str]] = {}
    for name, stage in stages.items():
        bad = []
        for entry in stage.get("outs", []):
            if isinstance(entry, dict):
                path, opts = next(iter(entry.items()))
                opts = opts or {}
                if opts.get("cache", True) is False or opts.get("persist", False):
                    bad.append(path)
        if bad:
            out[name] = bad
    return out


def test_every_stage_can_be_restored_from_the_run_cache():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    blockers = run_cache_blockers(stages)
    assert not blockers, (
        f"outputs that turn DVC's run cache off for their stage (declare uncached files "
        f"under metrics: or plots:): {blockers}"
    )


def test_the_run_cache_check_sees_an_uncached_output():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    stages["cluster"].setdefault("outs", []).append({"plots/extra.csv": {"cache": False}})
    stages["evaluate"].setdefault("outs", []).append({"artifacts/ckpt": {"persist": True}})
    assert run_cache_blockers(stages) == {
        "cluster": ["plots/extra.csv"],
        "evaluate": ["artifacts/ckpt"],
    }


def write_deps() -> None:
    """Rewrite each stage's ``src/`` deps in dvc.yaml (in place, other lines untouched)."""
    path = ROOT / "dvc.yaml"
    lines = path.read_text().splitlines(keepends=True)
    modules = stage_modules()
    out: list[str] = []
    stage = None
    in_deps = False
    for line in lines:
        m = re.match(r"^  (\w[\w-]*):\s*$", line)
        if m:
            stage, in_deps = m.group(1), False
        if re.match(r"^    deps:\s*$", line):
            in_deps = True
            out.append(line)
            if stage in modules:
                out += [f"      - {d}\n" for d in expected_src_deps(modules[stage])]
            continue
        if in_deps and re.match(r"^    \S", line):
            in_deps = False
        if in_deps and stage in modules and re.match(r"^      - src/", line):
            continue
        out.append(line)
    path.write_text("".join(out))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite dvc.yaml's src deps")
    if parser.parse_args().write:
        write_deps()
    problems = dep_problems(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
    print("missing:", problems[0] or "none", "\nunused:", problems[1] or "none")
