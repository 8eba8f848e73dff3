"""Extrapolation backtests: fit on the smaller runs, predict the larger ones, score the predictions.

A scaling law exists to predict a run larger than any it was fitted on. :func:`backtest` measures
how well it does that on runs you already have: for each cutoff along a scale (an input such as
``N`` or ``C``, any column, or a quantity computed from the data), it fits the law on the runs at
or below the cutoff and predicts every run above it. It reports, per cutoff and pooled:

* ``abs_rel_err``: mean ``|pred - y| / y`` over the held-out runs; ``bias``: mean ``(pred - y) / y``
  (signed; > 0 means the law over-predicts the larger runs);
* ``rmse_log``: root-mean-square of ``log pred - log y``;
* ``decades``: how far the held-out runs lie beyond the largest fitted run,
  ``log10(scale / max fitted scale)`` (mean and max);
* ``cover_50`` ... ``cover_95``: the share of held-out runs inside the 50/80/90/95% **prediction**
  intervals (``kind="observation"``: parameter uncertainty plus the run-to-run scatter; see
  :func:`jaxscale.predict`). A point fit has no parameter draws: its band uses the fitted
  residual scale alone and says so;
* the status of every fit (best start converged, converged resamples, r-hat / divergences).

**Bias flag.** Every held-out run gets a standardised error ``z = (log y - log pred) / s`` with
``s`` the sd of its predictive draws (log scale). When the law is right, ``z`` has mean 0 and
the mean of ``z`` over runs has variance at most 1 (the runs share one fit, so their errors are
correlated, but each ``z`` has variance about 1). A mean ``|z|`` above 2 is therefore flagged as
a systematic bias: the law (or its noise model) does not extrapolate.

Cutoffs: ``scheme="leave_largest"`` (default) holds out the ``k`` largest distinct values of the
scale for each ``k`` in ``ks`` (default 1, 2, 3); ``scheme="expanding"`` puts ``n_cutoffs``
cutoffs between the median and the second-largest distinct value (training windows that grow),
and explicit ``cutoffs=`` values are used as given. All point fits of one backtest run in one
batch (:func:`jaxscale.fit` with ``group=``).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ._data import as_frame, load_data, parse_mapping
from ._extrapolate import predictive_draws, residual_scale
from ._results import check_level, quantile_interval, warn_no_interval
from ._fit import fit as point_fit
from .laws import get_law

__all__ = ["backtest", "BacktestResult", "LEVELS", "METHODS"]

LEVELS = (0.5, 0.8, 0.9, 0.95)
METHODS = ("point", "bootstrap", "nuts")
_CUT = "__backtest_cutoff__"


def _cover(level: float) -> str:
    return f"cover_{100 * level:g}"


@dataclasses.dataclass(frozen=True, eq=False)
class BacktestResult:
    """Held-out predictions of one law at several cutoffs (see the module docstring).

    Attributes:
      law: the law's name. along: the name of the scale. method: ``"point"``, ``"bootstrap"`` or
        ``"nuts"``. levels: prediction-interval levels scored. band: what the intervals cover.
      runs: one row per (cutoff, held-out run): ``cutoff``, ``scale``, ``decades``, ``actual``,
        ``prediction``, ``rel_err``, ``log_err``, ``z``, ``lo_<L>``/``hi_<L>`` and ``in_<L>``.
      cutoffs: per cutoff: ``n_train``, ``n_test``, ``max_train_scale`` and the fit's ``status``.
      results: ``{cutoff: result}``: the FitResult, BootstrapResult or PosteriorResult of each cutoff.
    """

    law: str
    along: str
    method: str
    levels: tuple
    band: str
    runs: pd.DataFrame
    cutoffs: pd.DataFrame
    results: dict

    # ------------------------------------------------------------------ scores
    @staticmethod
    def _scores(g: pd.DataFrame, levels) -> dict:
        n = len(g)
        out = {"n_test": n,
               "abs_rel_err": float(np.mean(np.abs(g["rel_err"]))) if n else np.nan,
               "bias": float(np.mean(g["rel_err"])) if n else np.nan,
               "rmse_log": float(np.sqrt(np.mean(g["log_err"] ** 2))) if n else np.nan,
               "decades_mean": float(np.mean(g["decades"])) if n else np.nan,
               "decades_max": float(np.max(g["decades"])) if n else np.nan,
               "mean_z": float(np.mean(g["z"])) if n else np.nan}
        for lv in levels:
            out[_cover(lv)] = float(g[f"in_{lv:g}"].mean()) if n else np.nan  # skips cutoffs without an interval
        return out

    def table(self) -> pd.DataFrame:
        """Per cutoff and ``overall`` (all held-out runs of all cutoffs pooled): the scores above.

        The coverage columns are for prediction intervals of the kind named in ``band``
        (also in ``DataFrame.attrs["band"]``).
        """
        rows = {}
        for c, g in self.runs.groupby("cutoff", sort=True):
            info = self.cutoffs.loc[c]
            rows[f"{c:.4g}"] = {"n_train": int(info["n_train"]), **self._scores(g, self.levels), "status": info["status"]}
        ok = all(s == "ok" for s in self.cutoffs["status"])
        rows["overall"] = {"n_train": np.nan, **self._scores(self.runs, self.levels),
                           "status": "ok" if ok else "see cutoffs"}
        t = pd.DataFrame.from_dict(rows, orient="index")
        t.index.name = "cutoff"
        t.attrs["band"] = self.band
        return t

    @property
    def bias_flags(self) -> dict:
        """``{cutoff or "overall": bool}``: mean standardised error beyond +-2 (systematic bias)."""
        t = self.table()
        return {k: bool(abs(v) > 2) for k, v in t["mean_z"].items()}

    def summary(self) -> str:
        """A few sentences: errors, coverage of the 90% (or widest) interval, and any bias, in words."""
        t = self.table()
        o = t.loc["overall"]
        lv = 0.9 if 0.9 in self.levels else max(self.levels)
        lines = [f"Backtest of {self.law} along {self.along} ({self.method}; {len(self.cutoffs)} cutoffs, "
                 f"{int(o['n_test'])} held-out predictions up to {o['decades_max']:.2g} decades beyond the fit set):",
                 f"  mean |relative error| {100 * o['abs_rel_err']:.3g}%, signed bias {100 * o['bias']:+.3g}%, "
                 f"RMSE of log {o['rmse_log']:.3g}.",
                 f"  {100 * lv:g}% prediction intervals ({self.band}) cover {100 * o[_cover(lv)]:.3g}% of held-out runs."]
        flags = self.bias_flags
        if flags["overall"]:
            side = "over" if o["bias"] > 0 else "under"
            lines.append(f"  SYSTEMATIC BIAS: the law {side}-predicts the larger runs (mean standardised error "
                         f"{o['mean_z']:+.2f}, beyond +-2): it does not extrapolate within its stated uncertainty.")
        else:
            flagged = [k for k, v in flags.items() if v and k != "overall"]
            tail = f" (but flagged at cutoff(s) {', '.join(flagged)})" if flagged else ""
            lines.append(f"  No systematic bias flagged overall (mean standardised error {o['mean_z']:+.2f}){tail}.")
        bad = [f"{c:.4g}: {s}" for c, s in self.cutoffs["status"].items() if s != "ok"]
        if bad:
            lines.append("  Fit problems: " + "; ".join(bad))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        t = self.table()

        def clean(v):
            if isinstance(v, (np.floating, float)):
                return None if not np.isfinite(v) else float(v)
            if isinstance(v, (np.integer,)):
                return int(v)
            return v

        return {"law": self.law, "along": self.along, "method": self.method, "band": self.band,
                "levels": list(self.levels),
                "table": {str(k): {c: clean(v) for c, v in row.items()} for k, row in t.iterrows()},
                "bias_flags": {str(k): v for k, v in self.bias_flags.items()},
                "summary": self.summary()}

    def __repr__(self):
        o = self.table().loc["overall"]
        return (f"BacktestResult({self.law} along {self.along}, {self.method}: {len(self.cutoffs)} cutoffs, "
                f"abs rel err {100 * o['abs_rel_err']:.3g}%, bias {100 * o['bias']:+.3g}%)")


# ---------------------------------------------------------------------------------------------
# Cutoffs and the scale
# ---------------------------------------------------------------------------------------------
def _scale(frame: pd.DataFrame, along, mapping: Mapping) -> tuple[np.ndarray, str]:
    if callable(along):
        values = np.asarray(along(frame), dtype=float)
        name = getattr(along, "__name__", "scale")
        name = "scale" if name == "<lambda>" else name
    elif isinstance(along, str):
        col = mapping.get(along, along)
        if col not in frame.columns:
            raise ValueError(f"along={along!r} is neither a column nor an input mapped to one; available columns: "
                             f"{list(map(str, frame.columns))} (pass a callable frame -> array for a derived scale)")
        values, name = frame[col].to_numpy(dtype=float), along
    else:
        raise ValueError(f"along must be a column name, an input name or a callable, got {type(along).__name__}")
    if values.shape != (frame.shape[0],):
        raise ValueError(f"along gives shape {values.shape}; expected one value per row ({frame.shape[0]})")
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError("along must be finite and > 0 for every row (distances are in decades)")
    return values, name


def _choose_cutoffs(values: np.ndarray, scheme: str, cutoffs, ks, n_cutoffs: int) -> list[float]:
    distinct = np.unique(values)
    if cutoffs is not None:
        cuts = sorted(float(c) for c in np.atleast_1d(cutoffs))
    elif scheme == "leave_largest":
        ks = sorted({int(k) for k in ks})
        if not ks or ks[0] < 1:
            raise ValueError("ks must be positive integers")
        if ks[-1] >= distinct.shape[0]:
            raise ValueError(f"cannot hold out the {ks[-1]} largest of {distinct.shape[0]} distinct scale values")
        cuts = [float(distinct[-k - 1]) for k in ks]
    elif scheme == "expanding":
        if distinct.shape[0] < 3:
            raise ValueError("an expanding-window backtest needs at least 3 distinct scale values")
        lo, hi = np.log(np.median(distinct)), np.log(distinct[-2])
        targets = np.exp(np.linspace(lo, hi, int(n_cutoffs))) if n_cutoffs > 1 else np.exp([lo])
        cuts = sorted({float(distinct[distinct <= t].max()) for t in targets})
    else:
        raise ValueError(f"scheme must be 'leave_largest' or 'expanding', got {scheme!r}")
    for c in cuts:
        if not (values > c).any():
            raise ValueError(f"cutoff {c:g} leaves no run above it to predict")
        if not (values <= c).any():
            raise ValueError(f"cutoff {c:g} leaves no run at or below it to fit")
    return cuts


def _status(result) -> str:
    return "ok" if result.status.ok else "; ".join(result.status.problems)


# ---------------------------------------------------------------------------------------------
# backtest
# ---------------------------------------------------------------------------------------------
def backtest(law, data, *, along, scheme: str = "leave_largest", ks: Sequence[int] = (1, 2, 3),
             cutoffs: Sequence[float] | None = None, n_cutoffs: int = 3, method: str = "point",
             inputs=None, target="loss", weights=None, loss="huber", delta: float | None = None,
             levels: Sequence[float] = LEVELS, n_resamples: int = 200, seed: int = 0,
             fit_kwargs: Mapping | None = None, bootstrap_kwargs: Mapping | None = None,
             bayes_kwargs: Mapping | None = None, progress: bool = True) -> BacktestResult:
    """Fit ``law`` below each cutoff along ``along`` and score its predictions of the runs above.

    Args:
      law: a law or its name. data, inputs, target, weights, loss, delta: as in :func:`jaxscale.fit`.
      along: the scale to cut along: a column name, one of the law's inputs (through ``inputs``),
        or a callable ``frame -> array`` for a derived scale (e.g. ``lambda f: 6 * f.N * f.D``).
      scheme, ks, cutoffs, n_cutoffs: which cutoffs (see the module docstring). Runs with scale
        ``<= cutoff`` are fitted, runs ``> cutoff`` predicted.
      method: ``"point"`` (point fits; prediction band from the residual scale alone),
        ``"bootstrap"`` (:func:`jaxscale.bootstrap` with ``n_resamples``) or ``"nuts"``
        (:func:`jaxscale.bayes_fit`, likelihood ``"huber"`` for Huber fits, else ``"gaussian"``,
        unless ``bayes_kwargs`` says otherwise).
      levels: prediction-interval levels to score (default 50/80/90/95%).
      seed: seeds the bootstrap, NUTS and the observation noise.
      fit_kwargs, bootstrap_kwargs, bayes_kwargs: passed on to the fits.
      progress: a progress bar over the cutoffs.

    Returns a :class:`BacktestResult` (``table()``, ``summary()``, ``to_dict()``). Fit failures do
    not stop the backtest: they are recorded in each cutoff's ``status``.
    """
    law = get_law(law)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    levels = tuple(sorted(check_level(lv) for lv in levels))
    if not levels:
        raise ValueError("levels must name at least one level in (0, 1)")
    frame = as_frame(data)
    if frame.attrs.get("arrays2d"):
        raise ValueError("backtest needs tabular data (no 2-d input arrays)")
    mapping = parse_mapping(inputs)
    values, name = _scale(frame, along, mapping)
    cuts = _choose_cutoffs(values, scheme, cutoffs, ks, n_cutoffs)
    fit_kwargs = {"progress": False, "on_failure": "ignore", **dict(fit_kwargs or {})}

    # every cutoff's training set as one group of a stacked frame: all point fits in one batch
    parts = []
    for c in cuts:
        part = frame.loc[values <= c].copy()
        part[_CUT] = c
        parts.append(part)
    stacked = pd.concat(parts, ignore_index=True)
    w = weights
    if weights is not None and not isinstance(weights, str):
        w = np.concatenate([np.asarray(weights, dtype=float)[values <= c] for c in cuts])
    tgt = target
    if not isinstance(target, str):
        tgt = np.concatenate([np.asarray(target, dtype=float)[values <= c] for c in cuts])
    grouped = point_fit(law, stacked, inputs=mapping, target=tgt, weights=w, group=_CUT, loss=loss, delta=delta,
                        seed=seed, **fit_kwargs)

    rows, info, results = [], {}, {}
    iterator = cuts
    if progress and method != "point":
        from tqdm.auto import tqdm

        iterator = tqdm(cuts, desc=f"backtest {law.name} ({method})", unit="cutoff")
    for i, c in enumerate(iterator):
        fit = grouped[c]
        train = values <= c
        result = fit
        if method == "bootstrap":
            from ._bootstrap import bootstrap

            kw = {"progress": False, "on_failure": "ignore", **dict(bootstrap_kwargs or {})}
            result = bootstrap(fit, n_resamples, seed=seed + i, **kw)
        elif method == "nuts":
            from ._bayes import bayes_fit

            tr = frame.loc[train]
            kw = {"likelihood": "huber" if fit.loss.kind == "huber" else "gaussian", "chains": 2, "warmup": 300,
                  "samples": 300, "progress": False, "on_failure": "ignore", **dict(bayes_kwargs or {})}
            result = bayes_fit(law, tr, inputs=mapping, target=target if isinstance(target, str) else
                               np.asarray(target, dtype=float)[train],
                               weights=weights if weights is None or isinstance(weights, str) else
                               np.asarray(weights, dtype=float)[train],
                               delta=float(fit.loss.delta) if fit.loss.kind == "huber" else 1e-3, seed=seed + i,
                               init=fit, **kw)
        results[c] = result
        test_frame = frame.loc[~train]
        ds = load_data(test_frame, law, inputs=mapping,
                       target=target if isinstance(target, str) else np.asarray(target, dtype=float)[~train],
                       log_target=False)
        est, draws, label = predictive_draws(result, ds.inputs, kind="observation", seed=seed + 1000 + i)
        y = ds.y
        scale_test = values[~train]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_err = np.log(est) - np.log(y)
        top = float(values[train].max())
        row = pd.DataFrame({"cutoff": c, "scale": scale_test, "decades": np.log10(scale_test / top),
                            "actual": y, "prediction": est, "rel_err": (est - y) / y, "log_err": log_err},
                           index=test_frame.index)
        if draws is None:
            s, how = residual_scale(fit)
            band = f"observation (residual scale only: {how}; no parameter uncertainty)"
            from statistics import NormalDist

            for lv in levels:
                zq = NormalDist().inv_cdf((1 + lv) / 2)
                if fit.loss.space == "log":
                    lo, hi = est * np.exp(-zq * s), est * np.exp(zq * s)
                else:
                    lo, hi = est - zq * s, est + zq * s
                row[f"lo_{lv:g}"], row[f"hi_{lv:g}"] = lo, hi
            sd = np.full_like(est, s if fit.loss.space == "log" else np.nan)
            if fit.loss.space != "log":
                with np.errstate(divide="ignore", invalid="ignore"):
                    sd = s / np.abs(est)  # delta method: sd of log y
        else:
            band = label
            for lv in levels:
                reason = result.interval_reason(lv)
                if reason is None:
                    ci = quantile_interval(draws, lv, min_draws=result.min_draws_at(lv))
                    row[f"lo_{lv:g}"], row[f"hi_{lv:g}"] = ci[..., 0], ci[..., 1]
                else:
                    warn_no_interval(f"cutoff {c:g}: {reason}")
                    row[f"lo_{lv:g}"] = row[f"hi_{lv:g}"] = np.nan
            with np.errstate(divide="ignore", invalid="ignore"):
                sd = np.std(np.log(np.where(draws > 0, draws, np.nan)), axis=0, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            row["z"] = -log_err / sd
        for lv in levels:
            lo, hi = row[f"lo_{lv:g}"].to_numpy(), row[f"hi_{lv:g}"].to_numpy()
            row[f"in_{lv:g}"] = np.where(np.isnan(lo) | np.isnan(hi), np.nan, (lo <= y) & (y <= hi))  # NaN: no interval
        rows.append(row)
        info[c] = {"n_train": int(train.sum()), "n_test": int((~train).sum()), "max_train_scale": top,
                   "status": _status(result)}
    runs = pd.concat(rows)
    cut_table = pd.DataFrame.from_dict(info, orient="index")
    cut_table.index.name = "cutoff"
    return BacktestResult(law.name, name, method, levels, band, runs, cut_table, results)
