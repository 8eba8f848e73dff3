"""Data loading and validation, and the embedded synthetic Chinchilla-style data set.

:func:`load_data` accepts a pandas DataFrame, a path to a CSV file or a mapping of column name to
array, picks the law's inputs and the target, and rejects bad input with a ``ValueError`` that
names the column. It always copies: nothing the caller passed is mutated.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Mapping

import numpy as np
import pandas as pd

__all__ = ["Dataset", "load_data", "parse_mapping", "synthetic_chinchilla", "EPOCH_PARAMS"]

#: Epoch AI's published point estimate for the Chinchilla law (Besiroglu et al. 2024, Table 1).
EPOCH_PARAMS = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Validated float arrays: ``inputs[name]`` and ``y`` of length ``n``, ``weights`` >= 0."""

    inputs: dict
    y: np.ndarray
    weights: np.ndarray
    target: str
    columns: dict
    groups: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.y.shape[0])

    def subset(self, mask) -> "Dataset":
        return Dataset({k: v[mask] for k, v in self.inputs.items()}, self.y[mask], self.weights[mask],
                       self.target, self.columns, None if self.groups is None else self.groups[mask])


def parse_mapping(spec) -> dict:
    """``"N=params,D=tokens"`` -> ``{"N": "params", "D": "tokens"}``; dicts pass through."""
    if spec is None:
        return {}
    if isinstance(spec, Mapping):
        return dict(spec)
    out = {}
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ValueError(f"expected NAME=COLUMN in {spec!r}, got {part!r}")
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


_DELIMITERS = (",", ";", "\t", "|")


def _sniff_csv(path: str) -> tuple[str, list]:
    """The delimiter (``,``, ``;``, tab or ``|``, from the first lines) and the header's names.

    The header is read by the ``csv`` module, so duplicated names are seen as they are written
    (pandas would rename the second ``loss`` to ``loss.1`` and fit the first one silently)."""
    import csv

    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        sample = fh.read(65536)
    lines = sample.splitlines()
    header = lines[0] if lines else ""
    try:
        sep = csv.Sniffer().sniff(sample if len(lines) > 1 else header, delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        counts = {d: header.count(d) for d in _DELIMITERS}
        sep = max(counts, key=counts.get) if max(counts.values()) > 0 else ","
    if header.count(sep) == 0 and any(header.count(d) for d in _DELIMITERS):  # trust the header's delimiter
        sep = max(_DELIMITERS, key=header.count)
    names = next(csv.reader([header], delimiter=sep)) if header else []
    return sep, [n.strip() for n in names]


def check_unique_columns(names, where: str) -> None:
    """``ValueError`` naming duplicated column names (and their positions)."""
    seen: dict = {}
    for i, n in enumerate(names):
        seen.setdefault(str(n), []).append(i + 1)
    dup = {n: pos for n, pos in seen.items() if len(pos) > 1}
    if dup:
        what = "; ".join(f"{n!r} (columns {', '.join(map(str, pos))})" for n, pos in dup.items())
        raise ValueError(f"{where} has duplicated column name(s) {what}: rename them so that each column is "
                         "named once")


def as_frame(data) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        check_unique_columns(list(data.columns), "the data frame")
        return data
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if not os.path.exists(path):
            raise ValueError(f"data file not found: {path}")
        if os.path.isdir(path):
            raise ValueError(f"data file {path} is a folder")
        sep, names = _sniff_csv(path)
        check_unique_columns(names, f"data file {path}")
        try:
            frame = pd.read_csv(path, sep=sep)
            frame.attrs["source"] = f"data file {path}" + ("" if sep == "," else f" (read with delimiter {sep!r})")
        except pd.errors.EmptyDataError:
            raise ValueError(f"data file {path} is empty") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            detail = " ".join(str(err).split())
            raise ValueError(f"data file {path} is not a readable CSV file: {detail}") from None
        if frame.shape[0] == 0:
            raise ValueError(f"data file {path} has a header but no rows")
        return frame
    if isinstance(data, Mapping):
        lengths = {k: np.shape(v)[0] if np.ndim(v) else None for k, v in data.items()}
        if any(v is None for v in lengths.values()):
            raise ValueError(f"every column must be a 1-d array; got scalars in {[k for k, v in lengths.items() if v is None]}")
        if len(set(lengths.values())) > 1:
            raise ValueError(f"columns have mismatched lengths: {lengths}")
        # 2-d arrays (points on axis 0, e.g. one learning-rate schedule per point) ride beside the frame
        wide = {k: np.array(v, copy=True) for k, v in data.items() if np.ndim(v) == 2}
        frame = pd.DataFrame({k: np.array(v, copy=True) for k, v in data.items() if k not in wide},
                             index=pd.RangeIndex(max(lengths.values(), default=0)))
        frame.attrs["arrays2d"] = wide
        return frame
    raise ValueError(f"data must be a DataFrame, a CSV path or a mapping of arrays, got {type(data).__name__}")


def _numeric(values, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be 1-dimensional, got shape {arr.shape}")
    if arr.dtype.kind in "bcmM":
        raise ValueError(f"{what} has dtype {arr.dtype}; expected real numbers (int or float)")
    if arr.dtype.kind not in "iuf":
        series = pd.Series(arr)
        conv = pd.to_numeric(series, errors="coerce")
        bad = conv.isna().to_numpy() & series.notna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            value = series.iloc[i]
            hint = ""
            if isinstance(value, str) and any(c in value for c in ",. '_") and \
                    pd.notna(pd.to_numeric(value.replace(",", "").replace("_", "").replace("'", "").replace(" ", ""),
                                           errors="coerce")):
                hint = " (a thousands separator or decimal comma? write plain numbers such as 1234.5)"
            raise ValueError(f"{what} has {int(bad.sum())} non-numeric value(s), first {value!r} at row {i}{hint}")
        arr = conv.to_numpy()
    arr = np.array(arr, dtype=np.float64, copy=True)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{what} has {int(bad.sum())} NaN or infinite value(s), first at row {int(np.argmax(bad))}")
    return arr


def numeric_column(frame: pd.DataFrame, col, what: str) -> np.ndarray:
    wide = frame.attrs.get("arrays2d", {})
    if isinstance(col, str) and col in wide:  # a 2-d input from a mapping: validated elementwise
        return _numeric(wide[col].reshape(-1), f"column {col!r} ({what})").reshape(wide[col].shape)
    if not isinstance(col, str):
        arr = np.asarray(col)
        if arr.ndim != 1 or arr.shape[0] != frame.shape[0]:
            raise ValueError(f"{what} has shape {arr.shape}, but the data have {frame.shape[0]} rows")
        return _numeric(arr, what)
    if col not in frame.columns:
        cols = list(map(str, frame.columns))
        hint = ""
        if len(cols) == 1 and any(d in cols[0] for d in _DELIMITERS[1:]):
            hint = f" (one column only: is the file separated by {next(d for d in _DELIMITERS[1:] if d in cols[0])!r}?)"
        raise ValueError(f"unknown column {col!r} for {what}; available columns: {cols}{hint}")
    return _numeric(frame[col].to_numpy(), f"column {col!r} ({what})")


def load_data(data, law, *, inputs=None, target="loss", weights=None, group=None, log_target=True) -> Dataset:
    """Select and validate the law's inputs and the target from ``data``.

    Args:
      data: DataFrame, CSV path, or mapping of column name -> 1-d array.
      law: the :class:`~jaxscale.laws.Law` to be fitted (its ``inputs`` and ``positive_inputs``).
        When the data lack the law's input columns and the law has an input builder (the
        learning-rate schedule laws), the builder turns the data into the inputs first.
      inputs: mapping (or ``"N=col,D=col"`` string) from the law's input names to columns;
        inputs not named map to the column of the same name.
      target: column name of the observed values, or an array.
      weights: optional per-point weights, column name or array (finite, >= 0).
      group: optional column whose values split the data into separately fitted groups.
      log_target: whether the objective takes ``log`` of the target (then it must be > 0).
    """
    frame = as_frame(data)
    if frame.shape[0] == 0:
        raise ValueError("data have no rows")
    mapping = parse_mapping(inputs)
    unknown_inputs = set(mapping) - set(law.inputs)
    if unknown_inputs:
        raise ValueError(f"law {law.name!r} has inputs {list(law.inputs)}; unknown input name(s) {sorted(unknown_inputs)}")
    columns = {name: mapping.get(name, name) for name in law.inputs}
    present = set(frame.columns) | set(frame.attrs.get("arrays2d", {}))
    if law.input_builder is not None and isinstance(target, str) and not set(columns.values()) <= present:
        frame = as_frame(law.build_inputs(frame, target=target))  # e.g. long-format loss curves
    xs = {name: numeric_column(frame, col, f"input {name}") for name, col in columns.items()}
    for name in law.positive_inputs:
        bad = xs[name] <= 0
        if bad.any():
            raise ValueError(f"input {name} (column {columns[name]!r}) must be > 0 because the law takes its log; "
                             f"{int(bad.sum())} value(s) are <= 0, first at row {int(np.argmax(bad))}")
    target_name = target if isinstance(target, str) else "target"
    y = numeric_column(frame, target, "target")
    if log_target:
        bad = y <= 0
        if bad.any():
            raise ValueError(f"target {target_name!r} must be > 0 for an objective on log residuals; "
                             f"{int(bad.sum())} value(s) are <= 0, first at row {int(np.argmax(bad))}")
    if weights is None:
        w = np.ones_like(y)
    else:
        w = numeric_column(frame, weights, "weights")
        if (w < 0).any() or not (w > 0).any():
            raise ValueError("weights must be >= 0 and not all zero")
    groups = None
    if group is not None:
        if not isinstance(group, str) or group not in frame.columns:
            raise ValueError(f"unknown group column {group!r}; available columns: {list(map(str, frame.columns))}")
        groups = frame[group].to_numpy(copy=True)
        if pd.isna(groups).any():
            raise ValueError(f"group column {group!r} has missing values")
    return Dataset(xs, y, w, target_name, columns, groups)


def synthetic_chinchilla(seed: int = 0, noise: float = 0.01, params: Mapping | None = None) -> pd.DataFrame:
    """Deterministic synthetic Chinchilla-style isoFLOP data (documented as synthetic).

    Generated from the published Epoch AI parameters (:data:`EPOCH_PARAMS`: E=1.8172, A=482.01,
    B=2085.43, alpha=0.3478, beta=0.3658) on an isoFLOP design: 9 compute budgets
    C in {6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21} FLOP, and for each 15 model sizes N
    log-spaced over a factor 64 centred on the budget's compute-optimal size, D = C / (6 N). The
    loss is ``L(N, D) * exp(noise * z)`` with ``z`` standard normal from NumPy's PCG64 generator
    seeded with ``seed``: multiplicative log-normal noise with standard deviation ``noise``
    (default 1%) in log loss, about the scatter of Hoffmann et al.'s Figure 4. 135 rows with
    columns ``N``, ``D``, ``C``, ``loss``. These are not real training runs.
    """
    p = dict(EPOCH_PARAMS if params is None else params)
    budgets = np.array([6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21])
    a, b = p["alpha"], p["beta"]
    g = (a * p["A"] / (b * p["B"])) ** (1.0 / (a + b))
    rows = []
    for c in budgets:
        n_opt = g * (c / 6.0) ** (b / (a + b))
        for n in n_opt * np.logspace(-0.9, 0.9, 15):
            rows.append((n, c / (6.0 * n), c))
    n, d, c = map(np.array, zip(*rows))
    clean = p["E"] + p["A"] / n ** a + p["B"] / d ** b
    from ._validate import seed_int

    z = np.random.Generator(np.random.PCG64(seed_int(seed))).standard_normal(n.shape[0])
    return pd.DataFrame({"N": n, "D": d, "C": c, "loss": clean * np.exp(noise * z)})
