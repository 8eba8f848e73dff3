"""Sensitivity of a fit to the analyst's choices, in one call.

Li et al. (2025, "(Mis)Fitting: A Survey of Scaling Laws", arXiv:2502.18969) show that the loss,
its delta, the fitting space and which runs are kept move fitted exponents by more than their
reported uncertainty. :func:`sensitivity` refits a law over the grid

    losses x subsets (x spaces)

and reports every parameter and derived quantity for each choice, and how far each one moves.
Subsets are per-point weights (0 drops a point), so every subset has the data's shape and all
subsets of one loss run through one compiled solver.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import warnings
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from ._data import as_frame
from ._derive import derive as derive_table
from ._fit import fit as point_fit
from ._objectives import Objective, get_objective

__all__ = ["sensitivity", "SensitivityResult", "parse_loss", "parse_subset"]


@dataclasses.dataclass(frozen=True, eq=False)
class SensitivityResult:
    """The refits of :func:`sensitivity`.

    Attributes:
      table: one row per choice (``loss``, ``subset``, ``space``) with every parameter, every
        derived quantity, ``objective``, ``converged`` and ``n_points``.
      quantities: the columns of ``table`` that are parameters or derived quantities.
      fits: ``{(loss, subset, space): FitResult}``.
    """

    table: pd.DataFrame
    quantities: tuple
    fits: dict

    def spread(self) -> pd.DataFrame:
        """Per quantity: its value under the first choice (the baseline), min, max, and the range
        ``max - min`` relative to the baseline (converged fits only)."""
        ok = self.table[self.table["converged"]]
        rows = {}
        for q in self.quantities:
            v = ok[q].to_numpy(dtype=float)
            base = float(self.table[q].iloc[0])
            rows[q] = {"baseline": base, "min": float(np.min(v)) if v.size else np.nan,
                       "max": float(np.max(v)) if v.size else np.nan,
                       "range_rel": float((np.max(v) - np.min(v)) / abs(base)) if v.size and base else np.nan}
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "quantity"
        return out

    def to_dict(self) -> dict:
        def clean(v):
            if isinstance(v, (bool, np.bool_)):
                return bool(v)
            if isinstance(v, (int, np.integer)):
                return int(v)
            if isinstance(v, (float, np.floating)):
                return float(v) if np.isfinite(v) else None
            return v

        return {"fits": [{k: clean(v) for k, v in row.items()} for row in self.table.reset_index().to_dict("records")],
                "spread": {q: {k: clean(v) for k, v in row.items()} for q, row in self.spread().iterrows()}}

    def __str__(self):
        fmt = lambda v: f"{v:.6g}"  # noqa: E731
        return (self.table.to_string(float_format=fmt) + "\n\nhow far each quantity moves (converged fits):\n"
                + self.spread().to_string(float_format=fmt))


_LOSS_RE = re.compile(r"^(huber|squared_log|squared)(?::([0-9.eE+-]+))?$")


def parse_loss(spec) -> Objective:
    """An objective from an :class:`~jaxscale.Objective` or text: ``"huber:1e-4"``, ``"huber"``
    (delta 1e-3), ``"squared_log"``, ``"squared"``."""
    if isinstance(spec, Objective):
        return spec
    m = _LOSS_RE.match(str(spec).strip())
    if not m:
        raise ValueError(f"unknown loss {spec!r}; use huber:DELTA, huber, squared_log or squared")
    kind, delta = m.group(1), m.group(2)
    if delta is not None and kind != "huber":
        raise ValueError(f"{kind} takes no delta, got {spec!r}")
    return get_objective(kind, float(delta) if delta else None)


_COND_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*(>=|<=|==|!=|>|<)\s*([0-9.eE+-]+)\s*$")
_OPS = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal, "==": np.equal,
        "!=": np.not_equal}


def parse_subset(text: str) -> Callable[[pd.DataFrame], np.ndarray]:
    """A subset from text: conditions ``column OP number`` joined by ``&`` (``"N > 1e8 & D/N < 100"``
    is not accepted: one column per condition). OP is one of ``> >= < <= == !=``."""
    conds = []
    for part in str(text).split("&"):
        m = _COND_RE.match(part)
        if not m:
            raise ValueError(f"a subset condition is 'column OP number' (OP one of > >= < <= == !=), got {part!r}")
        conds.append((m.group(1).strip(), _OPS[m.group(2)], float(m.group(3))))

    def keep(frame):
        mask = np.ones(len(frame), dtype=bool)
        for col, op, value in conds:
            if col not in frame.columns:
                raise ValueError(f"subset {text!r}: unknown column {col!r}; available: {list(frame.columns)}")
            mask &= op(frame[col].to_numpy(dtype=float), value)
        return mask

    return keep


def _subset_mask(name, spec, frame) -> np.ndarray:
    if spec is None:
        return np.ones(len(frame), dtype=bool)
    if isinstance(spec, str):
        spec = parse_subset(spec)
    mask = spec(frame) if callable(spec) else spec
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (len(frame),):
        raise ValueError(f"subset {name!r} must give one boolean per row ({len(frame)}), got {mask.dtype} "
                         f"{mask.shape}")
    if not mask.any():
        raise ValueError(f"subset {name!r} keeps no point")
    return mask


def sensitivity(law, data, *, losses=("huber:1e-3", "huber:1e-4", "squared_log"), subsets: Mapping | None = None,
                spaces=None, derive=None, inputs=None, target="loss", weights=None, progress: bool = False,
                **fit_kwargs) -> SensitivityResult:
    """Refit ``law`` over a grid of choices and report how every quantity moves.

    Args:
      law, data, inputs, target, weights: as in :func:`jaxscale.fit` (``weights`` a column or array).
      losses: objectives or text (:func:`parse_loss`): default Huber 1e-3 and 1e-4 and squared log.
      subsets: ``{name: None | bool mask | fn(frame) -> mask | "col > value & ..."}``; default
        ``{"all": None}``. A subset keeps its points with their weights and gives the rest weight 0.
      spaces: optional ``("log", "linear")``: each loss also in these residual spaces.
      derive: derived quantities reported beside the parameters (see :func:`jaxscale.derive`).
      fit_kwargs: passed to every :func:`jaxscale.fit` (``starts``, ``n_steps``, constraints ...).

    Returns a :class:`SensitivityResult`; its first row (first loss, first subset, first space) is
    the baseline of :meth:`SensitivityResult.spread`. Non-converged refits are kept in the table
    (``converged`` False) and left out of the spread.
    """
    frame = as_frame(data)
    losses = [parse_loss(l) for l in losses]
    if not losses:
        raise ValueError("losses must name at least one loss")
    subsets = {"all": None} if subsets is None else dict(subsets)
    if not subsets:
        raise ValueError("subsets must hold at least one subset")
    masks = {name: _subset_mask(name, spec, frame) for name, spec in subsets.items()}
    if weights is None:
        base_w = np.ones(len(frame))
    elif isinstance(weights, str):
        if weights not in frame.columns:
            raise ValueError(f"unknown weights column {weights!r}; available columns: {list(frame.columns)}")
        base_w = frame[weights].to_numpy(dtype=float)
    else:
        base_w = np.asarray(weights, dtype=float)
    space_list = [None] if spaces is None else list(spaces)
    for s in space_list:
        if s not in (None, "log", "linear"):
            raise ValueError(f"spaces must be 'log' or 'linear', got {s!r}")
    grid = list(itertools.product(losses, masks, space_list))
    iterator = grid
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(grid, desc="sensitivity", unit="fit")
    rows, fits, quantities = [], {}, None
    for loss, subset, space in iterator:
        obj = loss if space is None else dataclasses.replace(loss, space=space)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # every refit's status is in the table
            res = point_fit(law, frame, inputs=inputs, target=target, weights=base_w * masks[subset], loss=obj,
                            progress=False, **{"on_failure": "ignore", **fit_kwargs})
        key = (obj.name, subset, obj.space)
        fits[key] = res
        row = {"loss": obj.name, "subset": subset, "space": obj.space, **res.params}
        names = list(res.params)
        if derive is not None:
            d = derive_table(res, derive)
            row.update({k: float(v) for k, v in d["value"].items()})
            names += list(d.index)
        quantities = quantities or tuple(names)
        row.update(objective=res.objective, converged=res.converged, n_points=int(np.sum(base_w * masks[subset] > 0)))
        rows.append(row)
    table = pd.DataFrame(rows).set_index(["loss", "subset", "space"])
    if spaces is None:
        table = table.droplevel("space")
    return SensitivityResult(table, quantities, fits)
