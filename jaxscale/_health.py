"""Fit health: how much to trust a point fit, in numbers and in words.

:func:`fit_health` looks at a finished fit and reports

* the **Hessian of the objective at the optimum** in the unconstrained parameters ``u`` (the
  natural log of ``"positive"`` parameters, the logit of bounded ones, ``"real"`` ones as they
  are): its condition number ``lambda_max / lambda_min``, and the parameter **correlations** of
  the inverse Hessian (the Laplace approximation of the covariance up to a scale),
  ``r_ij = (H^-1)_ij / sqrt((H^-1)_ii (H^-1)_jj)``. Pairs with ``|r| > 0.95`` *trade off*: the
  data pin down a combination of them, not each one (for the Chinchilla law, ``alpha`` and
  ``beta`` or ``A`` and ``alpha``);
* **basins**: the share of starts that reached the best objective (within ``1e-6`` relative),
  the distinct local minima among converged starts, and the spread of every parameter among
  the converged near-best starts (objective within ``1e-3`` relative of the best);
* parameters **at a bound** of their domain (:func:`jaxscale._status.params_at_bound`);
* inputs with **too few distinct levels** (fewer than 3) to pin down a curve in that input;
* **residual trends**: for every 1-d positive input, the weighted least-squares slope of the
  residuals (in the objective's space) against ``log x`` with its t statistic; ``|t| > 3`` says
  the law misses a systematic trend in that input.

Every finding also comes as a sentence (:attr:`FitHealth.messages`).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from ._config import precision
from ._status import params_at_bound

__all__ = ["FitHealth", "fit_health", "objective_hessian", "TRADE_OFF", "MIN_LEVELS", "TREND_T"]

#: |correlation| above which two parameters are reported as trading off.
TRADE_OFF = 0.95
#: fewer distinct values than this in an input is reported.
MIN_LEVELS = 3
#: |t| of a residual trend above which it is reported.
TREND_T = 3.0
#: near-best starts: objective within this relative distance of the best (basin spread).
NEAR_BEST_RTOL = 1e-3


@dataclasses.dataclass(frozen=True)
class FitHealth:
    """Diagnostics of a point fit (see the module docstring); ``messages`` says them in words.

    Attributes:
      hessian_space: the coordinates of the Hessian (``"unconstrained: log for positive
        parameters, logit for bounded ones"``).
      condition_number: ``lambda_max / lambda_min`` of that Hessian (``inf`` when it is singular or
        not positive definite).
      eigenvalues: its eigenvalues, ascending.
      correlations: ``{(a, b): r}`` for every pair of parameters, from the inverse Hessian.
      trade_offs: the pairs with ``|r| > 0.95``, strongest first, as ``(a, b, r)``.
      n_starts, n_at_best, share_at_best: starts, starts at the best objective and their share.
      n_basins: distinct local minima among converged starts (objectives more than ``1e-3``
        relative apart).
      near_best_spread: ``{name: (min, max)}`` of each parameter over the converged starts within
        ``1e-3`` (relative) of the best objective (distinct near-equal minima show up here).
      at_bound: parameters on a bound of their domain.
      levels: distinct values of every input; ``few_levels`` those with fewer than 3.
      residual_trends: ``{input: (slope, t)}``: residuals against ``log input``.
      messages: every finding as a sentence.
    """

    hessian_space: str
    condition_number: float
    eigenvalues: tuple
    correlations: dict
    trade_offs: tuple
    n_starts: int
    n_at_best: int
    share_at_best: float
    n_basins: int
    near_best_spread: dict
    at_bound: tuple
    levels: dict
    few_levels: tuple
    residual_trends: dict
    messages: tuple

    @property
    def ok(self) -> bool:
        """No finding worth a sentence."""
        return not self.messages

    def correlation_matrix(self, names) -> np.ndarray:
        """The correlations as a ``(P, P)`` array in the order of ``names``."""
        out = np.eye(len(names))
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                if i != j:
                    out[i, j] = self.correlations.get((a, b), self.correlations.get((b, a), np.nan))
        return out

    def to_dict(self) -> dict:
        f = lambda v: float(v) if np.isfinite(v) else None  # noqa: E731 - JSON has no inf/nan
        return {
            "hessian_space": self.hessian_space,
            "condition_number": f(self.condition_number),
            "eigenvalues": [f(v) for v in self.eigenvalues],
            "correlations": {f"{a},{b}": f(r) for (a, b), r in self.correlations.items()},
            "trade_offs": [{"params": [a, b], "r": f(r)} for a, b, r in self.trade_offs],
            "n_at_best": self.n_at_best,
            "share_at_best": f(self.share_at_best),
            "n_basins": self.n_basins,
            "near_best_spread": {k: [f(lo), f(hi)] for k, (lo, hi) in self.near_best_spread.items()},
            "at_bound": list(self.at_bound),
            "levels": dict(self.levels),
            "few_levels": list(self.few_levels),
            "residual_trends": {k: {"slope": f(s), "t": f(t)} for k, (s, t) in self.residual_trends.items()},
            "messages": list(self.messages),
        }

    def lines(self) -> list[str]:
        """A short human-readable report (what ``summary()`` prints)."""
        cond = f"{self.condition_number:.3g}" if np.isfinite(self.condition_number) else "inf (singular)"
        out = [f"health: Hessian condition number {cond} ({self.hessian_space}); "
               f"{self.n_at_best}/{self.n_starts} starts at the best objective "
               f"({100 * self.share_at_best:.3g}%), {self.n_basins} distinct minima"]
        out += [f"  - {m}" for m in self.messages] or ["  - no problems found"]
        return out

    def __str__(self):
        return "\n".join(self.lines())


@functools.lru_cache(maxsize=64)
def _hessian_fn(law, objective):
    def value(u, x, y, w):
        return objective.value(y, objective.model_output(law, law.constrain(u), x), w)

    return jax.jit(jax.hessian(value))


def objective_hessian(fit) -> np.ndarray:
    """Exact (autodiff) Hessian of the fit's objective at its optimum, in unconstrained coordinates."""
    ds = fit.data
    with precision(fit.dtype):
        h = _hessian_fn(fit.law, fit.loss)(jnp.asarray(fit.u), {k: jnp.asarray(v) for k, v in ds.inputs.items()},
                                           jnp.asarray(fit.loss.target(ds.y)), jnp.asarray(ds.weights))
    return np.asarray(h, dtype=float)


def _space_label(law) -> str:
    kinds = {p.transform if isinstance(p.transform, str) else "bounded" for p in law.params}
    parts = []
    if "positive" in kinds:
        parts.append("log for positive parameters")
    if "bounded" in kinds:
        parts.append("logit for bounded ones")
    if "real" in kinds:
        parts.append("real ones as they are")
    return "unconstrained parameters: " + ", ".join(parts)


def _coord(p) -> str:
    return f"log {p.name}" if p.transform == "positive" else p.name


def correlations_from_hessian(h: np.ndarray) -> np.ndarray:
    """``D^-1/2 H^-1 D^-1/2`` with ``D = diag(H^-1)``; NaN where ``H`` is singular."""
    try:
        cov = np.linalg.inv(h)
    except np.linalg.LinAlgError:
        return np.full(h.shape, np.nan)
    d = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
    return cov / np.outer(d, d)


def _trade_off_advice(law, a: str, b: str) -> str:
    """What to report instead of two parameters that trade off."""
    pa, pb = (law.params[law.param_names.index(n)] for n in (a, b))
    if pa.transform == "real" and pb.transform == "real":
        return f"report a combination such as {b}/({a}+{b}) instead of each"
    if "real" in (pa.transform, pb.transform):
        scale, expo = (a, b) if pb.transform == "real" else (b, a)
        return (f"the data pin down a combination of them, not each (as for a scale and an exponent): quote "
                f"predictions, or {expo} with its interval, rather than {scale}")
    return "quote a prediction or a combination of them rather than each"


def fit_health(fit) -> FitHealth:
    """Compute the :class:`FitHealth` of a :class:`~jaxscale.FitResult`."""
    law, ds = fit.law, fit.data
    names = law.param_names
    messages = []
    # Hessian, condition number, correlations
    h = objective_hessian(fit)
    h = 0.5 * (h + h.T)
    if np.all(np.isfinite(h)):
        eig = np.linalg.eigvalsh(h)
        cond = float(eig[-1] / eig[0]) if eig[0] > 0 else float("inf")
        corr = correlations_from_hessian(h) if eig[0] > 0 else np.full(h.shape, np.nan)
    else:
        eig, cond, corr = np.full(len(names), np.nan), float("inf"), np.full(h.shape, np.nan)
    if not np.isfinite(cond):
        messages.append("the Hessian at the optimum is singular or not positive definite: some parameter (or "
                        "combination) is not determined by the data")
    elif cond > 1e10:
        messages.append(f"the Hessian at the optimum is ill-conditioned (condition number {cond:.3g}): some "
                        "combination of parameters is barely determined by the data")
    correlations, trade = {}, []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            r = float(corr[i, j])
            correlations[(names[i], names[j])] = r
            if np.isfinite(r) and abs(r) > TRADE_OFF:
                trade.append((names[i], names[j], r))
    trade.sort(key=lambda t: -abs(t[2]))
    for a, b, r in trade:
        pa, pb = (law.params[names.index(n)] for n in (a, b))
        messages.append(f"{a} and {b} trade off (r = {r:.3f} between {_coord(pa)} and {_coord(pb)}): "
                        f"{_trade_off_advice(law, a, b)}")
    # basins
    s = fit.starts
    f = np.where(np.isfinite(s.objective), s.objective, np.inf)
    best = float(fit.objective)
    scale = max(abs(best), 1e-300)
    n_at_best = int(np.sum(np.abs(f - best) <= 1e-6 * scale))
    share = n_at_best / max(f.shape[0], 1)
    conv_f = np.sort(f[s.converged & np.isfinite(f)])
    kept = []
    for v in conv_f:
        if all(abs(v - g) > NEAR_BEST_RTOL * max(abs(g), 1e-300) for g in kept):
            kept.append(v)
    near = s.converged & (np.abs(f - best) <= NEAR_BEST_RTOL * scale)
    near_u = np.asarray(s.u)[near] if near.any() else np.asarray(fit.u)[None]
    theta = law.constrain(near_u)
    spread = {k: (float(np.min(v)), float(np.max(v))) for k, v in theta.items()}
    if n_at_best < 2 and f.shape[0] > 1:
        messages.append(f"only {n_at_best} of {f.shape[0]} starts reached the best objective: the optimum "
                        "depends on the start; try more starts")
    for k, (lo, hi) in spread.items():
        if hi - lo > 1e-2 * max(abs(fit.params[k]), 1e-12):
            messages.append(f"converged starts within {NEAR_BEST_RTOL:g} (relative) of the best objective disagree "
                            f"on {k} ({lo:.4g} to {hi:.4g}): near-equal minima with different {k}")
    # bounds
    bound = params_at_bound(law, fit.u)
    for k in bound:
        messages.append(f"{k} = {fit.params[k]:.3g} sits on a bound of its domain: the data do not determine it")
    # levels
    levels = {}
    for k, v in ds.inputs.items():
        v = np.asarray(v)[ds.weights > 0]
        levels[k] = int(np.unique(v.reshape(v.shape[0], -1), axis=0).shape[0])
    few = tuple(k for k, n in levels.items() if n < MIN_LEVELS)
    for k in few:
        messages.append(f"input {k} has only {levels[k]} distinct value(s): too few to pin down the law's "
                        f"dependence on {k} (want at least {MIN_LEVELS})")
    # residual trends
    trends = _residual_trends(fit)
    for k, (slope, t) in trends.items():
        if np.isfinite(t) and abs(t) > TREND_T:
            messages.append(f"residuals trend with log {k} (slope {slope:.3g} per unit log {k}, t = {t:.1f}): "
                            f"the law misses a systematic trend in {k}")
    return FitHealth(_space_label(law), cond, tuple(float(e) for e in eig), correlations, tuple(trade),
                     int(f.shape[0]), n_at_best, float(share), len(kept), spread, tuple(bound), levels, few,
                     trends, tuple(messages))


def _residual_trends(fit) -> dict:
    law, ds, obj = fit.law, fit.data, fit.loss
    with precision(fit.dtype):
        out_model = np.asarray(obj.model_output(law, {k: jnp.asarray(v) for k, v in fit.params.items()},
                                                {k: jnp.asarray(v) for k, v in ds.inputs.items()}))
    r = np.asarray(obj.target(ds.y)) - out_model
    w = np.asarray(ds.weights, dtype=float)
    keep = w > 0
    out = {}
    for k, v in ds.inputs.items():
        v = np.asarray(v, dtype=float)
        if v.ndim != 1 or k not in law.positive_inputs or not np.all(v[keep] > 0):
            continue
        x, rr, ww = np.log(v[keep]), r[keep], w[keep]
        n = x.shape[0]
        if n < 3 or np.ptp(x) == 0:
            continue
        xm, rm = np.average(x, weights=ww), np.average(rr, weights=ww)
        sxx = np.sum(ww * (x - xm) ** 2)
        slope = float(np.sum(ww * (x - xm) * (rr - rm)) / sxx)
        resid = rr - rm - slope * (x - xm)
        se = float(np.sqrt(np.sum(ww * resid ** 2) / (n - 2) / sxx))  # weighted least squares
        t = slope / se if se > 0 else (0.0 if slope == 0 else float("inf"))
        out[k] = (slope, float(t))
    return out
