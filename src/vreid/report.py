"""Mean ± std over seeds, per configuration, from ``dvc exp show --json``.

Typical use after a seed sweep::

    dvc exp run --queue -S train.seed=0,1,2 -S ti=600,1200
    dvc queue start
    python -m vreid.report                      # runs `dvc exp show --json` itself
    python -m vreid.report --json exps.json --out results/ti_sweep
    python -m vreid.report --exp a-s0 a-s1 a-s2 --rounds  # + each seed's per-round AMI / mAP
    python -m vreid.report --paired default     # + each row minus the default, seed by seed

A *configuration* is every param except the seed keys (``--seed-key``, default
``train.seed``). Each configuration gets one row: a label made of the params in which it
differs from the baseline commit ("default" when it differs in nothing), the number of
seeds, the seeds, and mean ± sample std (ddof=1) of each headline metric.

Metrics are flattened with dots and named after the file stem: key ``test.mAP`` of
``metrics/eval.json`` is ``eval.test.mAP``. Params are flattened with dots
(``cluster.eps``); keys of a params file other than ``params.yaml`` carry a
``path:`` prefix, as in ``dvc exp show``.

``--paired LABEL`` adds, for every other row, the differences to row ``LABEL`` taken seed by
seed (on the seeds both rows have): mean ± sample std of the differences and on how many seeds
the row is higher. Paired differences cancel what a seed does to both rows alike (the same
split of batches, the same initial weights), so they are the comparison to read when two rows'
own spreads overlap.

The bootstrap interval of a single run is :func:`vreid.stats.bootstrap_ci`.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from vreid.io import atomic_path

DEFAULT_SEED_KEYS: tuple[str, ...] = ("train.seed",)

# Headline metrics, shown when present in the input (metrics/eval.json and metrics/cluster.json).
HEADLINE_METRICS: tuple[str, ...] = (
    "eval.val.mAP",
    "eval.val.rank1",
    "eval.val.cross_view_mAP",
    "eval.test.mAP",
    "eval.test.rank1",
    "eval.test.cross_view_mAP",
    "cluster.final.ami",
    "cluster.final.merge_precision",
)

DEFAULT_PARAMS_FILE = "params.yaml"
MISSING = "–"  # en dash: a missing value in the table
_ABSENT = object()  # a param that a run does not have

DVC_COMMAND = ("dvc", "exp", "show", "--json")


class ReportError(Exception):
    """A problem with the input or the options; ``main`` prints it on one line, exit 2."""


# ---- reading `dvc exp show --json` ---------------------------------------------------------


@dataclass(eq=False)
class Run:
    """One row of `dvc exp show`: the workspace, a baseline commit or an experiment."""

    name: str  # experiment name, branch/tag name, short rev, or "workspace"
    rev: str  # full SHA, or "workspace"
    kind: str  # "workspace" | "baseline" | "experiment"
    baseline: str  # rev of the baseline commit it belongs to ("" for the workspace)
    state: str | None = None  # executor state: success | queued | running | failed | None
    error: str | None = None  # the row's own error message (failed runs)
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    file_errors: list[str] = field(default_factory=list)  # unreadable params/metrics files
    has_data: bool = True


def parse_exp_show(text: str, source: str) -> list[dict[str, Any]]:
    """Parse the JSON that ``dvc exp show --json`` prints; ``source`` names it in errors."""
    try:
        states = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(states, list) or not all(isinstance(s, dict) and "rev" in s for s in states):
        raise ReportError(
            f"{source}: not the output of `dvc exp show --json` "
            "(expected a list of objects with a 'rev' key)"
        )
    return states


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (with ``prefix.`` in front when given)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def _file_error(path: str, entry: Mapping[str, Any]) -> str | None:
    err = entry.get("error")
    if not err:
        return None
    if isinstance(err, Mapping):
        kind, msg = err.get("type", ""), err.get("msg", "")
        return f"{path}: {kind}: {msg}" if kind else f"{path}: {msg}"
    return f"{path}: {err}"


def _file_entries(block: Mapping[str, Any] | None, errors: list[str]) -> Iterable[tuple[str, Any]]:
    """``(path, data)`` of each readable file of a params/metrics block; errors appended."""
    for path, entry in (block or {}).items():
        entry = entry or {}
        if err := _file_error(path, entry):
            errors.append(err)
        if entry.get("data") is not None:
            yield path, entry["data"]


def flatten_params(block: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """Flatten the ``params`` block of one row: ``{path: {"data": {...}}}``."""
    out: dict[str, Any] = {}
    errors: list[str] = []
    for path, data in _file_entries(block, errors):
        prefix = "" if path == DEFAULT_PARAMS_FILE else f"{path}:"
        if isinstance(data, Mapping):
            out.update({prefix + k: v for k, v in flatten(data).items()})
        else:
            out[prefix.rstrip(":") or path] = data
    return out, errors


def _metric_prefixes(paths: Sequence[str]) -> dict[str, str]:
    """File stem as prefix (``metrics/eval.json`` -> ``eval``); the path when stems clash."""
    stems = [PurePosixPath(p).stem for p in paths]
    return {
        p: (stem if stems.count(stem) == 1 else str(PurePosixPath(p).with_suffix("")))
        for p, stem in zip(paths, stems, strict=True)
    }


def flatten_metrics(block: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """Flatten the ``metrics`` block of one row, keys prefixed with the file stem."""
    prefixes = _metric_prefixes(list(block or {}))
    out: dict[str, Any] = {}
    errors: list[str] = []
    for path, data in _file_entries(block, errors):
        if isinstance(data, Mapping):
            out.update(flatten(data, prefixes[path]))
        else:
            out[prefixes[path]] = data
    return out, errors


def _error_msg(err: Any) -> str | None:
    if not err:
        return None
    if isinstance(err, Mapping):
        return str(err.get("msg") or err.get("type") or "error")
    return str(err)


def _make_run(entry: Mapping[str, Any], kind: str, baseline: str, **extra: Any) -> Run:
    rev = str(entry.get("rev", ""))
    name = entry.get("name") or ("workspace" if rev == "workspace" else rev[:7])
    data = entry.get("data") or {}
    params, p_err = flatten_params(data.get("params"))
    metrics, m_err = flatten_metrics(data.get("metrics"))
    return Run(
        name=str(name),
        rev=rev,
        kind=kind,
        baseline=baseline,
        error=_error_msg(entry.get("error")),
        params=params,
        metrics=metrics,
        file_errors=p_err + m_err,
        has_data=bool(data),
        **extra,
    )


def runs_from_states(states: Sequence[Mapping[str, Any]]) -> list[list[Run]]:
    """All rows, grouped as ``dvc exp show`` lists them: one list per top-level entry.

    The workspace entry is a list of one run; a baseline entry is its commit followed by
    its experiments (the tip of each experiment range, as ``dvc exp show`` shows it).
    """
    groups: list[list[Run]] = []
    for state in states:
        rev = str(state.get("rev", ""))
        if rev == "workspace":
            groups.append([_make_run(state, "workspace", "")])
            continue
        group = [_make_run(state, "baseline", rev)]
        for exp_range in state.get("experiments") or []:
            revs = exp_range.get("revs") or []
            if not revs:
                continue
            executor = exp_range.get("executor") or {}
            run = _make_run(revs[0], "experiment", rev, state=executor.get("state"))
            if not revs[0].get("name") and exp_range.get("name"):
                run.name = str(exp_range["name"])
            group.append(run)
        groups.append(group)
    return groups


def select_runs(
    groups: Sequence[Sequence[Run]],
    *,
    all_commits: bool = False,
    names: Sequence[str] = (),
    source: str = "input",
) -> list[Run]:
    """The rows to report.

    Default: the workspace, the first baseline commit and its experiments (what plain
    ``dvc exp show`` lists). ``all_commits``: every entry. ``names``: only the rows whose
    experiment/branch name or rev (full, or a prefix of at least 4 hex digits) matches,
    searched in every entry; an unknown name is an error.
    """
    every = [run for group in groups for run in group]
    if names:
        chosen: list[Run] = []
        for name in names:
            hits = [r for r in every if name in (r.name, r.rev)] or [
                r for r in every if _rev_prefix(r, name)
            ]
            if not hits:
                hint = "" if all_commits else " (older commits need `--all`)"
                raise ReportError(f"--exp {name!r}: no such experiment in {source}{hint}")
            if len({r.rev for r in hits}) > 1 and not any(name in (r.name, r.rev) for r in hits):
                raise ReportError(f"--exp {name!r}: ambiguous rev prefix in {source}")
            chosen.extend(r for r in hits if r not in chosen)
        return chosen
    if all_commits:
        return every
    out: list[Run] = []
    seen_baseline = False
    for group in groups:
        if group and group[0].kind == "workspace":
            out.extend(group)
        elif not seen_baseline:
            out.extend(group)
            seen_baseline = True
    return out


def _rev_prefix(run: Run, name: str) -> bool:
    is_hex = len(name) >= 4 and all(c in "0123456789abcdef" for c in name.lower())
    return is_hex and run.rev.lower().startswith(name.lower())


def reference_params(groups: Sequence[Sequence[Run]]) -> dict[str, Any] | None:
    """Params of the first baseline commit: what the labels are relative to."""
    for group in groups:
        if group and group[0].kind == "baseline" and group[0].params:
            return group[0].params
    return None


def completed_runs(runs: Iterable[Run]) -> tuple[list[Run], list[str]]:
    """Drop queued, running and failed runs, runs without metrics, and exact duplicates.

    A duplicate (same params *and* metrics, e.g. the workspace after ``dvc exp apply`` or
    an experiment that re-ran the baseline's own seed) is counted once. The workspace is
    looked at last so that the named row is the one kept. Returns (runs, notes).
    """
    runs = list(runs)
    ordered = [r for r in runs if r.kind != "workspace"] + [
        r for r in runs if r.kind == "workspace"
    ]
    kept: list[Run] = []
    notes: list[str] = []
    seen: dict[str, Run] = {}
    for run in ordered:
        if run.state in ("queued", "running", "failed"):
            why = f"{run.state}: {run.error}" if run.error else run.state
            notes.append(f"skipped {run.name} ({why})")
            continue
        if run.error:
            notes.append(f"skipped {run.name} (error: {run.error})")
            continue
        if not run.has_data or not run.metrics:
            why = "; ".join(run.file_errors) if run.file_errors else "no metrics"
            notes.append(f"skipped {run.name} ({why})")
            continue
        for err in run.file_errors:
            notes.append(f"{run.name}: {err}")
        key = json.dumps([run.params, run.metrics], sort_keys=True, default=str)
        if key in seen:
            notes.append(
                f"{run.name} has the same params and metrics as {seen[key].name}; counted once"
            )
            continue
        seen[key] = run
        kept.append(run)
    position = {id(r): i for i, r in enumerate(runs)}
    kept.sort(key=lambda r: position[id(r)])
    return kept, notes


# ---- grouping into configurations ----------------------------------------------------------


@dataclass
class Config:
    """The runs that share every param except the seed keys."""

    params: dict[str, Any]  # full params, seed keys removed
    runs: list[Run]
    seeds: list[Any]  # one per run: the seed value, or a tuple with several seed keys
    label: str = ""


def _canon(value: Any) -> str:
    """A hashable, type-aware form of a param value (1 and 1.0 and "1" stay apart)."""
    if value is _ABSENT:
        return "\0absent"
    return json.dumps(value, sort_keys=True, default=str)


def _seed_of(run: Run, seed_keys: Sequence[str]) -> Any:
    values = [run.params.get(k) for k in seed_keys]
    return values[0] if len(values) == 1 else tuple(values)


def group_runs(runs: Iterable[Run], seed_keys: Sequence[str] = DEFAULT_SEED_KEYS) -> list[Config]:
    """Group runs by their params without the seed keys; first-seen order."""
    configs: dict[str, Config] = {}
    for run in runs:
        params = {k: v for k, v in run.params.items() if k not in seed_keys}
        key = _canon(params)
        if key not in configs:
            configs[key] = Config(params=params, runs=[], seeds=[])
        configs[key].runs.append(run)
        configs[key].seeds.append(_seed_of(run, seed_keys))
    for config in configs.values():
        order = sorted(range(len(config.runs)), key=lambda i: _sort_key(config.seeds[i]))
        config.runs = [config.runs[i] for i in order]
        config.seeds = [config.seeds[i] for i in order]
    return list(configs.values())


def differing_keys(configs: Sequence[Config]) -> list[str]:
    """Params whose value is not the same in every configuration (first-seen order)."""
    keys = _all_keys(c.params for c in configs)
    return [k for k in keys if len({_canon(c.params.get(k, _ABSENT)) for c in configs}) > 1]


def _all_keys(trees: Iterable[Mapping[str, Any]]) -> list[str]:
    keys: dict[str, None] = {}
    for tree in trees:
        keys.update(dict.fromkeys(tree))
    return list(keys)


def format_value(value: Any) -> str:
    """A param value as ``-S`` would take it: ``600``, ``0.5``, ``true``, ``resnet18``."""
    if value is _ABSENT:
        return "(absent)"
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return "/".join(format_value(v) for v in value)
    return json.dumps(value, default=str)


def label_keys(params: Mapping[str, Any], keys: Sequence[str], reference: Mapping[str, Any]):
    """The ``keys`` whose value in ``params`` is not the one in ``reference``."""
    return [k for k in keys if _canon(params.get(k, _ABSENT)) != _canon(reference.get(k, _ABSENT))]


def make_label(params: Mapping[str, Any], keys: Sequence[str]) -> str:
    """``ti=600 cluster.eps=0.5`` from ``keys``; "default" when there are none."""
    return " ".join(f"{k}={format_value(params.get(k, _ABSENT))}" for k in keys) or "default"


def _sort_key(value: Any) -> tuple:
    if value is _ABSENT or value is None:
        return (3, "")
    if isinstance(value, bool):
        return (1, str(value))
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, tuple):
        return (2, tuple(_sort_key(v) for v in value))
    return (2, _canon(value))


def label_configs(
    configs: list[Config], reference: Mapping[str, Any] | None, seed_keys: Sequence[str] = ()
) -> list[Config]:
    """Label each configuration by the params in which it differs from ``reference`` (the
    baseline commit's params), or, without a reference, by the params that differ between
    the configurations. Order: "default" first, then by those params' values."""
    if reference is None:
        keys = differing_keys(configs)
        for config in configs:
            config.label = make_label(config.params, keys)
    else:
        ref = {k: v for k, v in reference.items() if k not in seed_keys}
        every = _all_keys([*(c.params for c in configs), ref])
        used: dict[str, None] = {}
        for config in configs:
            keys = label_keys(config.params, every, ref)
            used.update(dict.fromkeys(keys))
            config.label = make_label(config.params, keys)
        keys = [k for k in every if k in used]
    return sorted(
        configs,
        key=lambda c: (
            c.label != "default",
            tuple(_sort_key(c.params.get(k, _ABSENT)) for k in keys),
        ),
    )


# ---- statistics ----------------------------------------------------------------------------


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return None if math.isnan(value) else value


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample std (ddof=1); std is None for one value, both None for none."""
    if not values:
        return None, None
    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean())
    std = float(arr.std(ddof=1)) if arr.size > 1 else None
    return mean, std


def available_metrics(runs: Iterable[Run], wanted: Sequence[str]) -> list[str]:
    """The ``wanted`` metrics that at least one run has (order kept)."""
    present = set()
    for run in runs:
        present.update(run.metrics)
    return [m for m in wanted if m in present]


def summarize(configs: Sequence[Config], metrics: Sequence[str]) -> tuple[list[dict], list[str]]:
    """One dict per configuration: label, n, seeds, ``<metric>_mean``/``<metric>_std``
    per metric, ``values`` (each metric's value per seed, None where missing), the
    experiments and the full params. Returns (rows, notes)."""
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for config in configs:
        row: dict[str, Any] = {
            "label": config.label,
            "n": len(config.runs),
            "seeds": [list(s) if isinstance(s, tuple) else s for s in config.seeds],
            "values": {},
        }
        for metric in metrics:
            values = [_as_number(r.metrics.get(metric)) for r in config.runs]
            row["values"][metric] = values
            have = [v for v in values if v is not None]
            if len(have) < len(values):
                notes.append(
                    f"{config.label}: {metric} missing in {len(values) - len(have)} "
                    f"of {len(values)} runs"
                )
            row[f"{metric}_mean"], row[f"{metric}_std"] = mean_std(have)
        row["experiments"] = [r.name for r in config.runs]
        row["revs"] = [r.rev for r in config.runs]
        row["params"] = dict(config.params)
        rows.append(row)
    return rows, notes


def add_paired(rows: Sequence[dict[str, Any]], reference: str, metrics: Sequence[str]) -> None:
    """Give each row ``paired``: its differences to the row labelled ``reference``, seed by
    seed, on the seeds both have a value for: per metric ``{"mean", "std", "n", "higher"}``
    (``higher``: on how many of those ``n`` seeds the row is above the reference; mean and
    std None when ``n`` is 0, std None when it is 1), plus ``"against": reference``. The
    reference row itself gets ``paired`` None."""
    by_label = {row["label"]: row for row in rows}
    if reference not in by_label:
        labels = ", ".join(repr(label) for label in by_label)
        raise ReportError(
            f"--paired {reference!r}: no configuration has this label; the labels are {labels}"
        )
    ref = by_label[reference]
    bases = {  # metric -> the reference's value by seed
        metric: {
            _canon(seed): value
            for seed, value in zip(ref["seeds"], ref["values"][metric], strict=True)
            if value is not None
        }
        for metric in metrics
    }
    for row in rows:
        if row is ref:
            row["paired"] = None
            continue
        paired: dict[str, Any] = {"against": reference}
        for metric in metrics:
            base = bases[metric]
            diffs = [
                value - base[_canon(seed)]
                for seed, value in zip(row["seeds"], row["values"][metric], strict=True)
                if value is not None and _canon(seed) in base
            ]
            mean, std = mean_std(diffs)
            higher = sum(d > 0 for d in diffs)
            paired[metric] = {"mean": mean, "std": std, "n": len(diffs), "higher": higher}
        row["paired"] = paired


def format_paired(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> str:
    """The paired differences (:func:`add_paired`) as a markdown table: configuration | one
    column per metric, each cell ``+0.0123 ± 0.0045 (3/3 higher)``."""
    paired = [row for row in rows if row.get("paired")]
    if not paired:
        return "(--paired: no other configuration to compare)\n"
    against = paired[0]["paired"]["against"]
    header = ["configuration", *(f"{m} − {against}" for m in metrics)]
    lines = [
        f"Paired by seed against {against!r} (mean ± std of the per-seed differences; "
        "on how many seeds the row is higher):",
        "",
        "| " + " | ".join(_md_escape(h) for h in header) + " |",
        "| " + " | ".join(["---", *(["---:"] * len(metrics))]) + " |",
    ]
    for row in paired:
        cells = [_md_escape(row["label"])]
        for m in metrics:
            d = row["paired"][m]
            if d["mean"] is None:
                cells.append(MISSING)
                continue
            spread = MISSING if d["std"] is None else f"{d['std']:.4f}"
            cells.append(f"{d['mean']:+.4f} ± {spread} ({d['higher']}/{d['n']} higher)")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---- output --------------------------------------------------------------------------------


def format_seeds(seeds: Sequence[Any]) -> str:
    return ",".join(format_value(tuple(s) if isinstance(s, list) else s) for s in seeds)


def format_cell(mean: float | None, std: float | None, digits: int = 4) -> str:
    """``0.1234 ± 0.0056``; ``0.1234 ± –`` for one seed; ``–`` when missing."""
    if mean is None:
        return MISSING
    spread = MISSING if std is None else f"{std:.{digits}f}"
    return f"{mean:.{digits}f} ± {spread}"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def format_markdown(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> str:
    """A GitHub-flavoured markdown table: label | n | seeds | one column per metric."""
    header = ["configuration", "n", "seeds", *metrics]
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(["---", "---:", "---", *(["---:"] * len(metrics))]) + " |",
    ]
    for row in rows:
        cells = [
            _md_escape(row["label"]),
            str(row["n"]),
            format_seeds(row["seeds"]),
            *(format_cell(row[f"{m}_mean"], row[f"{m}_std"]) for m in metrics),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def csv_columns(metrics: Sequence[str], paired: bool = False) -> list[str]:
    cols = ["label", "n", "seeds"]
    for m in metrics:
        cols += [f"{m}_mean", f"{m}_std"]
    if paired:
        for m in metrics:
            cols += [f"{m}_paired_mean", f"{m}_paired_std", f"{m}_paired_higher"]
    return cols


def _paired_columns(row: Mapping[str, Any], metrics: Sequence[str]) -> dict[str, Any]:
    """The CSV cells of a row's paired differences (empty for the reference row)."""
    out: dict[str, Any] = {}
    for m in metrics:
        d = (row.get("paired") or {}).get(m)
        out[f"{m}_paired_mean"] = None if d is None else _tidy(d["mean"])
        out[f"{m}_paired_std"] = None if d is None else _tidy(d["std"])
        out[f"{m}_paired_higher"] = None if d is None else f"{d['higher']}/{d['n']}"
    return out


def _tidy(value: Any) -> Any:
    """Round a statistic to 6 significant digits (0.010000000000000009 -> 0.01)."""
    return float(f"{value:.6g}") if isinstance(value, float) else value


def _stat_columns(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _tidy(v) for k, v in row.items() if k.endswith(("_mean", "_std"))}


def format_csv(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> str:
    """One line per configuration; a missing mean/std is an empty cell."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    paired = any("paired" in row for row in rows)
    cols = csv_columns(metrics, paired)
    writer.writerow(cols)
    for row in rows:
        full = {**row, "seeds": format_seeds(row["seeds"]), **_stat_columns(row)}
        if paired:
            full.update(_paired_columns(row, metrics))
        writer.writerow(["" if full[col] is None else full[col] for col in cols])
    return buf.getvalue()


def format_json(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows as a JSON list: the CSV's columns plus ``experiments`` and ``params``."""
    out = [{**row, **_stat_columns(row)} for row in rows]
    return json.dumps(out, indent=2, default=str) + "\n"


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` to a temp file next to ``path``, then ``os.replace`` it over ``path``
    (readers never see half a file). The file gets the usual mode (0666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~umask)


# ---- per-round trajectories (--rounds) ----------------------------------------------------

ROUNDS_FILE = "plots/rounds.csv"  # the cluster stage's per-round table (round 0 = recognition)


def read_rounds(rev: str, path: str = ROUNDS_FILE) -> list[dict[str, str]] | None:
    """The rows of ``path`` as committed in ``rev`` (an experiment's or a commit's SHA;
    ``workspace`` reads the file on disk); None when that revision has no such file."""
    if rev == "workspace":
        try:
            with open(path, encoding="utf-8", newline="") as fh:
                return list(csv.DictReader(fh))
        except OSError:
            return None
    proc = subprocess.run(
        ["git", "show", f"{rev}:{path}"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return None
    return list(csv.DictReader(io.StringIO(proc.stdout)))


def _num(cell: str | None) -> float | None:
    try:
        return float(cell) if cell not in (None, "") else None
    except ValueError:
        return None


def _path(values: Sequence[float | None]) -> str:
    return " → ".join(MISSING if v is None else f"{v:.3f}" for v in values)


def format_rounds(rows: Sequence[Mapping[str, Any]], read=read_rounds) -> str:
    """Per configuration and seed, the pseudo labels' AMI and merge precision from round 1 to
    the last, and val mAP from round 0 (the recognition features) to the last, read from each
    run's ``plots/rounds.csv`` by ``read(rev)``; then, per configuration, on how many seeds the
    AMI rose from round 1 to the last and the last round's val mAP is above round 0's.
    Configurations without rounds (no file, or only round 0) are left out."""
    lines = [
        "| configuration | seed | AMI, round 1 → last | merge precision, round 1 → last "
        "| val mAP, round 0 → last |",
        "| --- | --- | --- | --- | --- |",
    ]
    summary: list[str] = []
    for row in rows:
        seen = ami_up = map_up = 0
        for seed, rev in zip(row["seeds"], row.get("revs") or [], strict=False):
            table = [r for r in (read(rev) or []) if _num(r.get("round")) is not None]
            table.sort(key=lambda r: _num(r["round"]))
            later = [r for r in table if _num(r["round"]) >= 1]
            if not later:
                continue
            ami = [_num(r.get("ami")) for r in later]
            val = [_num(r.get("val_mAP")) for r in table]
            lines.append(
                f"| {_md_escape(row['label'])} | {format_seeds([seed])} | {_path(ami)} | "
                f"{_path([_num(r.get('merge_precision')) for r in later])} | {_path(val)} |"
            )
            seen += 1
            ami_up += None not in (ami[0], ami[-1]) and ami[-1] > ami[0]
            map_up += None not in (val[0], val[-1]) and val[-1] > val[0]
        if seen:
            summary.append(
                f"- {row['label']}: AMI rises from round 1 to the last on {ami_up} of {seen} "
                f"seeds; the last round's val mAP is above round 0's on {map_up} of {seen}"
            )
    if not summary:
        return ""
    return "\n".join(lines) + "\n\n" + "\n".join(summary) + "\n"


# ---- bootstrap -----------------------------------------------------------------------------


# ---- command line --------------------------------------------------------------------------


def run_dvc_exp_show(all_commits: bool = False) -> str:
    """Run ``dvc exp show --json`` (``-A`` for every commit) in the current directory."""
    cmd = [sys.executable, "-m", "dvc", *DVC_COMMAND[1:]] + (["-A"] if all_commits else [])
    env = dict(os.environ)
    env.setdefault("DVC_NO_ANALYTICS", "1")
    shown = " ".join(DVC_COMMAND) + (" -A" if all_commits else "")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    except OSError as exc:
        raise ReportError(f"`{shown}` could not start: {exc}") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise ReportError(f"`{shown}` failed (exit {proc.returncode}): {last}")
    return proc.stdout


def read_input(json_path: str | None, all_commits: bool) -> tuple[str, str]:
    """(text, source name for messages)."""
    if json_path is None:
        shown = " ".join(DVC_COMMAND) + (" -A" if all_commits else "")
        return run_dvc_exp_show(all_commits), f"`{shown}`"
    if json_path == "-":
        return sys.stdin.read(), "<stdin>"
    try:
        with open(json_path, encoding="utf-8") as fh:
            return fh.read(), json_path
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ReportError(f"--json {json_path}: cannot read ({reason})") from None


def build_report(
    text: str,
    source: str,
    *,
    seed_keys: Sequence[str] = DEFAULT_SEED_KEYS,
    metrics: Sequence[str] | None = None,
    names: Sequence[str] = (),
    all_commits: bool = False,
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """The whole pipeline on the JSON text: (rows, metric names, notes)."""
    groups = runs_from_states(parse_exp_show(text, source))
    selected = select_runs(groups, all_commits=all_commits, names=names, source=source)
    runs, notes = completed_runs(selected)
    if not runs:
        raise ReportError(f"no completed experiment in {source}")
    if not any(k in r.params for r in runs for k in seed_keys):
        notes.append(f"seed key(s) {', '.join(seed_keys)} in no experiment's params")
    if metrics:
        chosen = list(metrics)
        for m in chosen:
            if not any(m in r.metrics for r in runs):
                notes.append(f"--metric {m}: in no completed experiment")
    else:
        chosen = available_metrics(runs, HEADLINE_METRICS)
        if not chosen:
            notes.append("none of the headline metrics is in the input; pick some with --metric")
    configs = label_configs(group_runs(runs, seed_keys), reference_params(groups), seed_keys)
    rows, more = summarize(configs, chosen)
    return rows, chosen, notes + more


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vreid.report",
        description=(
            "Mean ± sample std over seeds, one row per configuration (all params except "
            "the seed keys), from `dvc exp show --json`."
        ),
        epilog=(
            "A configuration is labelled by the params in which it differs from the "
            "baseline commit ('default' if none). Queued, running and failed experiments "
            "are skipped, and identical rows (e.g. the workspace after `dvc exp apply`) "
            "counted once, with a note on stderr. '–' marks a missing value (std with one "
            "seed). Errors: one line on stderr, exit code 2."
        ),
    )
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="read this `dvc exp show --json` output ('-' = stdin) instead of running dvc",
    )
    parser.add_argument(
        "--exp",
        metavar="NAME",
        nargs="+",
        action="extend",
        default=[],
        help="only these experiments (name, branch or rev; rev prefixes of >= 4 hex digits)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="every commit's experiments (`dvc exp show -A`); default: the workspace, "
        "the baseline commit and its experiments",
    )
    parser.add_argument(
        "--seed-key",
        metavar="KEY",
        action="append",
        help="param that only changes the seed (repeatable; default: train.seed)",
    )
    parser.add_argument(
        "--metric",
        metavar="KEY",
        action="append",
        help="metric to report, e.g. eval.test.mAP (repeatable; default: the headline "
        "metrics present: " + ", ".join(HEADLINE_METRICS) + ")",
    )
    parser.add_argument(
        "--rounds",
        action="store_true",
        help="also print, per configuration and seed, AMI, merge precision and val mAP per "
        f"clustering round (each experiment's {ROUNDS_FILE}, read with `git show`)",
    )
    parser.add_argument(
        "--paired",
        metavar="LABEL",
        help="also give every row's differences to the row labelled LABEL (e.g. default), "
        "seed by seed: mean ± std and on how many seeds it is higher (in the CSV/JSON too)",
    )
    parser.add_argument(
        "--out",
        metavar="PREFIX",
        help="also write PREFIX.csv and PREFIX.json (default: stdout only)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    seed_keys = tuple(args.seed_key or DEFAULT_SEED_KEYS)
    try:
        text, source = read_input(args.json, args.all)
        rows, metrics, notes = build_report(
            text,
            source,
            seed_keys=seed_keys,
            metrics=args.metric,
            names=args.exp,
            all_commits=args.all,
        )
        if args.paired is not None:
            add_paired(rows, args.paired, metrics)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        if args.out:
            for suffix, body in ((".csv", format_csv(rows, metrics)), (".json", format_json(rows))):
                path = args.out + suffix
                try:
                    write_text_atomic(path, body)
                except OSError as exc:
                    raise ReportError(
                        f"--out {path}: cannot write ({exc.strerror or exc})"
                    ) from None
    except ReportError as exc:
        print(f"vreid.report: error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(format_markdown(rows, metrics))
    if args.paired is not None:
        sys.stdout.write("\n" + format_paired(rows, metrics))
    if args.rounds:
        per_round = format_rounds(rows)
        sys.stdout.write("\n" + (per_round or f"(no experiment has rounds in {ROUNDS_FILE})\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
