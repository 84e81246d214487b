"""Line-oriented text-file helpers shared by the dataset readers.

Every list file is read once into a pandas Series of stripped, non-blank lines whose index is the
1-based line number in the file, so a vectorised validity mask can be turned into an error that
names the file, the line number, the offending text and the expected format.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import InputError

__all__ = [
    "MAX_DIGITS",
    "DatasetFormatError",
    "MissingSideFileWarning",
    "match_lines",
    "read_lines",
    "require_root",
    "raise_first_bad",
    "raise_first_duplicate",
    "warn_missing",
]


#: Integers in dataset files have at most 18 digits (int64 holds every 18-digit number); the
#: readers' patterns say ``\d{1,18}``, so a longer one is a malformed line, named as such.
MAX_DIGITS = 18
_LONG_NUMBER = re.compile(r"\d{19,}")  # MAX_DIGITS + 1 or more


def _problem(line: str, default: str) -> str:
    """What is wrong with ``line``: an overlong number is named as such, else ``default``."""
    if _LONG_NUMBER.search(line):
        return f"a number of more than {MAX_DIGITS} digits (beyond a 64-bit integer)"
    return default


class DatasetFormatError(InputError):
    """A dataset file is malformed; the message names the file, line and expected format."""


class MissingSideFileWarning(UserWarning):
    """An optional dataset file (labels, tracks, key points, index) is absent or incomplete."""


def read_lines(path: Path, encoding: str = "utf-8") -> pd.Series:
    """Read a text file into its non-blank lines.

    Returns a Series of ``str`` (each line stripped of surrounding white space) indexed by the
    1-based line number (int64). Blank lines are dropped, so the index may have holes.
    Undecodable bytes raise :class:`DatasetFormatError` naming the file.
    """
    raw = pd.Series(_read_text(path, encoding).splitlines(), dtype=str)
    raw.index = pd.RangeIndex(1, len(raw) + 1)
    stripped = raw.str.strip()
    keep = stripped.str.len().to_numpy() > 0
    out = stripped[keep]
    out.index = out.index.astype(np.int64)
    return out


def _read_text(path: Path, encoding: str) -> str:
    try:
        return Path(path).read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise DatasetFormatError(
            f"{path}: cannot decode the file as {encoding} ({exc}); expected a plain-text list"
        ) from exc


def match_lines(
    path: Path,
    pattern: str,
    expected: str,
    *,
    skip_header: bool | str = False,
    encoding: str = "utf-8",
) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Match every non-blank line of a text file against a regular expression, fast.

    ``pattern`` must match one whole (stripped) line and must not match a newline (use
    ``[ \\t]`` rather than ``\\s``). With ``skip_header`` the first non-blank line is dropped
    (``"auto"``: only when it does not match, i.e. is a header).
    Returns ``(line_numbers, groups)``: 1-based line numbers (int64) and, per line, the tuple
    of the pattern's groups. One C-level ``findall`` over the whole text does the work; only
    when some line fails is the file scanned line by line to raise
    :class:`DatasetFormatError` naming the first bad line.
    """
    text = _read_text(path, encoding)
    stripped = [ln.strip() for ln in text.splitlines()]
    numbers = [i for i, ln in enumerate(stripped, start=1) if ln]
    regex = re.compile(pattern)
    if skip_header and numbers:
        if skip_header != "auto" or regex.fullmatch(stripped[numbers[0] - 1]) is None:
            numbers = numbers[1:]
    kept = [stripped[i - 1] for i in numbers]
    groups = re.compile(f"^(?:{pattern})$", re.MULTILINE).findall("\n".join(kept))
    if len(groups) != len(kept):
        for lineno, ln in zip(numbers, kept, strict=True):
            if regex.fullmatch(ln) is None:
                n_bad = sum(regex.fullmatch(x) is None for x in kept)
                more = f" ({n_bad} bad lines in total)" if n_bad > 1 else ""
                what = _problem(ln, "malformed line")
                raise DatasetFormatError(
                    f"{path}, line {lineno}: {what}: {ln!r}; expected {expected}{more}"
                )
        raise DatasetFormatError(f"{path}: unexpected content; expected {expected}")
    if regex.groups == 1:
        groups = [(g,) for g in groups]
    elif regex.groups == 0:
        groups = [() for _ in groups]
    return np.asarray(numbers, dtype=np.int64), groups


def raise_first_bad(
    lines: pd.Series, ok: np.ndarray | pd.Series, path: Path, expected: str, problem: str = ""
) -> None:
    """Raise :class:`DatasetFormatError` for the first line where ``ok`` is False (if any).

    ``lines`` is a Series from :func:`read_lines` (index = 1-based line numbers); ``ok`` a
    boolean mask aligned with it (NA counts as bad).
    """
    mask = np.asarray(pd.Series(ok).fillna(False).to_numpy(dtype=bool))
    if mask.all():
        return
    pos = int(np.flatnonzero(~mask)[0])
    lineno = int(lines.index[pos])
    text = str(lines.iloc[pos])
    n_bad = int((~mask).sum())
    what = _problem(text, problem or "malformed line")
    more = f" ({n_bad} bad lines in total)" if n_bad > 1 else ""
    raise DatasetFormatError(f"{path}, line {lineno}: {what}: {text!r}; expected {expected}{more}")


def raise_first_duplicate(
    lines: pd.Series, keys: pd.Series | np.ndarray, path: Path, what: str
) -> None:
    """Raise :class:`DatasetFormatError` at the first line whose ``keys`` value repeats."""
    dup = pd.Series(np.asarray(keys)).duplicated().to_numpy()
    if not dup.any():
        return
    pos = int(np.flatnonzero(dup)[0])
    key = np.asarray(keys)[pos]
    first = int(lines.index[int(np.flatnonzero(np.asarray(keys) == key)[0])])
    raise DatasetFormatError(
        f"{path}, line {int(lines.index[pos])}: duplicate {what} {str(key)!r} "
        f"(first listed on line {first}); expected each {what} once"
    )


def warn_missing(path: Path, lost: str, alternatives: Iterable[str] = ()) -> None:
    """Warn that an optional file is absent and say what is lost."""
    alt = list(alternatives)
    also = f" (also looked for {', '.join(alt)})" if alt else ""
    warnings.warn(f"{path} not found{also}: {lost}", MissingSideFileWarning, stacklevel=3)


def require_root(root: str | Path, dataset: str) -> Path:
    """Return ``Path(root)`` or raise FileNotFoundError saying where to put the dataset."""
    r = Path(root)
    if not r.is_dir():
        raise FileNotFoundError(
            f"dataset folder {r} not found (dataset {dataset!r}): place the dataset there in its "
            f"native layout, e.g. copy it and run `dvc add {r}` so the pipeline tracks it"
        )
    return r
