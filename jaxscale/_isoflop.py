r"""IsoFLOP analysis (Hoffmann et al. 2022, Approach 2) with the published variants.

Two stages. **Stage 1**, per compute budget ``C_j``: the loss as a function of ``x = log N`` over
that budget's runs, and its minimum ``x*_j = log N_opt(C_j)``, by one of

* ``method="parabola"`` -- weighted least-squares parabola ``L = c0 + c1 x + c2 x^2``, vertex
  ``-c1 / (2 c2)`` (Hoffmann et al. 2022, Approach 2; Llama 3 fits the same in tokens);
* ``method="akima"`` -- Akima interpolation of ``log L`` over ``x`` (Porian et al. 2024,
  "Resolving Discrepancies in Compute-Optimal Scaling of Language Models", arXiv:2406.19146);
  the minimum of the piecewise cubic is found exactly, piece by piece (the limit of their fine
  grid). Implemented here in JAX (tested against ``scipy.interpolate.Akima1DInterpolator``);
* ``method="law"`` -- a parametric law of ``N`` and ``D`` (default the Chinchilla law) fitted
  to all runs with :func:`jaxscale.fit`, minimised along each budget's iso-compute curve
  ``D = C / (6 N)``.

Runs at the same size within a budget (seeds) are averaged (weighted) into one node.

**Drop rule** (the same in the point estimate and in every resample): a budget whose minimum is not
bracketed by its sizes (vertex outside the range run, or interpolant minimal at an end), whose
curvature at the minimum is not positive, or that has fewer than 3 distinct sizes, gives no
minimum. In the point estimate such budgets are dropped with one warning naming them
(``keep_unbracketed=True`` keeps minima that lie outside the sizes run, as extrapolations); a
budget dropped there is left out of every resample; in a resample, a budget that fails the rule
is left out of that resample only.

**Stage 2**: ``log N_opt = log k_n + a log C`` by least squares over the budgets kept, unweighted
(Hoffmann) or weighted by ``1 / var(x*_j)`` with the variance from the resamples (Porian et al.).
``D_opt = C / (6 N_opt) = k_d C^b`` with ``b = 1 - a``, ``k_d = 1 / (6 k_n)``.

**Resampling** (``resample=``), all solved in one compiled ``vmap`` call:

* ``"points"`` -- runs resampled with replacement within each budget (multinomial counts);
* ``"noise"`` -- seed noise: every run's loss gets ``sigma * z`` added, ``z ~ N(0, 1)``, with
  ``sigma`` given (``noise=``) or estimated (pooled within-size variance of repeated runs when
  there are any, else the residual variance of the per-budget parabolas) (Porian et al. 2024);
* ``"budgets"`` -- whole budgets resampled with replacement (the stage-1 minima are kept).

**Diagnostics** (:meth:`IsoflopResult.budget_table`): minimum within the outermost size step of
the sweep (``near_edge``), flat curves (rise from the minimum to the lower end of the sweep below
twice the noise, ``flat``), asymmetric curves (the Akima interpolant's rise at equal distance left
and right of the minimum, ``asymmetry`` in [-1, 1]; a parabola assumes 0), and with
:meth:`IsoflopResult.agreement`, Approach 2 against a parametric (Approach 3) fit on the same
runs.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ._config import precision
from ._data import as_frame, numeric_column, parse_mapping
from ._results import Result, Status, check_level
from ._solvers import spd_solve

__all__ = ["fit_isoflop", "IsoflopResult", "akima_coefficients", "akima_evaluate", "akima_minimum", "isoflop_to_json",
           "isoflop_from_json"]

METHODS = ("parabola", "akima", "law")
SCHEMES = ("points", "noise", "budgets")
WEIGHTINGS = ("none", "inverse_variance")


# ----------------------------------------------------------------------------------------------
# Akima interpolation (fixed shapes: the first k of U nodes are used, sorted ascending)
# ----------------------------------------------------------------------------------------------
def akima_coefficients(x, y, k):
    r"""Akima (1970) piecewise-cubic coefficients through the first ``k`` nodes of ``x, y`` (``(U,)``).

    Same construction as ``scipy.interpolate.Akima1DInterpolator`` (``method="akima"``): secant
    slopes ``m_i``, two ghost slopes at each end by linear extrapolation
    (``m_{-1} = 2 m_0 - m_1``, ...), node slopes
    ``t_i = (|m_{i+1} - m_i| m_{i-1} + |m_{i-1} - m_{i-2}| m_i) / (|m_{i+1} - m_i| + |m_{i-1} - m_{i-2}|)``
    (the mean of ``m_{i-1}, m_i`` where both weights vanish). On piece ``i``, ``h = x - x_i``:
    ``p(h) = y_i + t_i h + c_i h^2 + d_i h^3``, ``c_i = (3 m_i - 2 t_i - t_{i+1}) / dx_i``,
    ``d_i = (t_i + t_{i+1} - 2 m_i) / dx_i^2``. Nodes at index ``>= k`` are padding (any values with
    ``x`` increasing); ``k >= 3``. Returns ``(y, t, c, d)``, each ``(U,)`` (entries past piece
    ``k - 2`` are meaningless).
    """
    u = x.shape[-1]
    dtype = jnp.result_type(x, y)
    x, y = jnp.asarray(x, dtype), jnp.asarray(y, dtype)
    dx = jnp.diff(x)
    dx = jnp.where(dx > 0, dx, 1.0)
    m = jnp.zeros(u + 3, dtype=dtype).at[2:u + 1].set(jnp.diff(y) / dx)
    m = m.at[1].set(2.0 * m[2] - m[3])
    m = m.at[0].set(2.0 * m[1] - m[2])
    m = m.at[k + 1].set(2.0 * m[k] - m[k - 1])
    m = m.at[k + 2].set(2.0 * m[k + 1] - m[k])
    t = 0.5 * (m[3:] + m[:-3])
    dm = jnp.abs(jnp.diff(m))
    f1, f2 = dm[2:], dm[:-2]
    f12 = f1 + f2
    node = jnp.arange(u) < k
    big = f12 > 1e-9 * jnp.max(jnp.where(node, f12, -jnp.inf))
    t = jnp.where(big, (f1 * m[1:-2] + f2 * m[2:-1]) / jnp.where(big, f12, 1.0), t)
    mi = m[2:u + 1]
    c = (3.0 * mi - 2.0 * t[:-1] - t[1:]) / dx
    d = (t[:-1] + t[1:] - 2.0 * mi) / dx ** 2
    pad = jnp.zeros(1, dtype=y.dtype)
    return y, t, jnp.concatenate([c, pad]), jnp.concatenate([d, pad])


def akima_evaluate(x, coef, k, xq):
    """The Akima interpolant (``coef`` from :func:`akima_coefficients`) at ``xq``, clamped to pieces 0..k-2."""
    y, t, c, d = coef
    xs = jnp.where(jnp.arange(x.shape[-1]) < k, x, jnp.inf)
    i = jnp.clip(jnp.searchsorted(xs, xq, side="right") - 1, 0, k - 2)
    h = xq - x[i]
    return y[i] + h * (t[i] + h * (c[i] + h * d[i]))


def akima_minimum(x, y, k):
    """Exact minimum of the Akima interpolant over ``[x_0, x_{k-1}]``.

    Candidates: every node, and on each piece the root of ``p'(h) = t + 2 c h + 3 d h^2`` with
    ``p'' > 0``, ``h = -t / (c + sqrt(c^2 - 3 d t))`` (the stable form), when inside the piece.
    Returns ``(x_min, y_min, curvature p''(x_min), index)``; ``index`` is the node index of a node
    minimum (``0`` or ``k - 1`` means the minimum is at an end: not bracketed) or ``-1`` for a
    minimum inside a piece.
    """
    coef = akima_coefficients(x, y, k)
    _, t, c, d = coef
    u = x.shape[-1]
    piece = jnp.arange(u) < k - 1
    node = jnp.arange(u) < k
    dx = jnp.concatenate([jnp.diff(x), jnp.ones(1, dtype=x.dtype)])
    disc = c * c - 3.0 * d * t
    s = jnp.sqrt(jnp.where(disc > 0, disc, 0.0))
    den = c + s  # h = (-c + s) / (3 d) = -t / (c + s), the second form stable when d -> 0
    safe_d = jnp.where(d != 0, 3.0 * d, 1.0)
    h = jnp.where(den != 0, -t / jnp.where(den != 0, den, 1.0), (s - c) / safe_d)
    inner = piece & (disc > 0) & ((den != 0) | (d != 0)) & (h > 0) & (h < dx)
    h = jnp.where(inner, h, 0.0)
    p_in = y + h * (t + h * (c + h * d))
    v_in = jnp.where(inner, p_in, jnp.inf)
    v_node = jnp.where(node, y, jnp.inf)
    i_in, i_node = jnp.argmin(v_in), jnp.argmin(v_node)
    use_in = v_in[i_in] < v_node[i_node]
    x_min = jnp.where(use_in, x[i_in] + h[i_in], x[i_node])
    y_min = jnp.where(use_in, v_in[i_in], v_node[i_node])
    # p'' at the minimum: 2 s inside a piece; at a node, from the piece that starts there (or ends, at the last node)
    j = jnp.minimum(i_node, k - 2)
    hj = x[i_node] - x[j]
    curv_node = 2.0 * c[j] + 6.0 * d[j] * hj
    curv = jnp.where(use_in, 2.0 * s[i_in], curv_node)
    index = jnp.where(use_in, -1, i_node)
    return x_min, y_min, curv, index


# ----------------------------------------------------------------------------------------------
# Stage 1 kernels: one budget row of nodes, vmapped over budgets and resamples
# ----------------------------------------------------------------------------------------------
def _nodes(y_run, w_run, onehot):
    """Weighted mean loss and total weight per node: ``(J, U)`` each."""
    wn = jnp.einsum("jm,jmu->ju", w_run, onehot)
    yn = jnp.einsum("jm,jmu->ju", w_run * y_run, onehot) / jnp.where(wn > 0, wn, 1.0)
    return yn, wn


def _parabola_row(x, yn, wn):
    sw = jnp.sum(wn)
    xm = jnp.sum(wn * x) / jnp.where(sw > 0, sw, 1.0)
    xc = x - xm
    basis = jnp.stack([jnp.ones_like(xc), xc, xc * xc], axis=-1)
    a = jnp.einsum("mk,ml,m->kl", basis, basis, wn)
    b = jnp.einsum("mk,m,m->k", basis, yn, wn)
    c = spd_solve(a, b, unroll=True)  # NaN when fewer than 3 nodes carry weight; no LAPACK (see spd_solve)
    vc = -c[1] / (2.0 * c[2])
    y_min = c[0] + c[1] * vc + c[2] * vc ** 2
    active = wn > 0
    lo = jnp.min(jnp.where(active, x, jnp.inf))
    hi = jnp.max(jnp.where(active, x, -jnp.inf))
    vertex = xm + vc
    inside = (vertex >= lo) & (vertex <= hi)
    return vertex, 2.0 * c[2], y_min, inside


def _compact(x, yn, wn):
    """Active nodes (weight > 0) first, ascending; padding continues x upwards (every dx > 0).
    Returns ``(x, log yn, k)``."""
    active = wn > 0
    order = jnp.argsort(jnp.where(active, x, jnp.inf))
    k = jnp.sum(active)
    xs, ys = x[order], jnp.log(jnp.where(active, yn, 1.0))[order]
    idx = jnp.arange(x.shape[-1])
    last = jnp.maximum(k - 1, 0)
    xs = jnp.where(idx < k, xs, xs[last] + (idx - k + 1.0))
    ys = jnp.where(idx < k, ys, ys[last])
    return xs, ys, k


def _akima_row(x, yn, wn):
    xs, ys, k = _compact(x, yn, wn)
    kk = jnp.maximum(k, 3)
    x_min, f_min, curv, index = akima_minimum(xs, ys, kk)
    inside = (index != 0) & (index != kk - 1)
    y_min = jnp.exp(f_min)
    return x_min, curv * y_min, y_min, inside  # curvature of L (not log L): L (f'' + f'^2), f' = 0


def _rise_row(x, yn, wn, v):
    """The Akima interpolant of the nodes (as L) at ``v - h``, ``v``, ``v + h``, with ``h`` the
    distance from ``v`` to the nearer end of the sweep (for the asymmetry diagnostic)."""
    xs, ys, k = _compact(x, yn, wn)
    kk = jnp.maximum(k, 3)
    v = jnp.where(jnp.isfinite(v), v, xs[0])
    h = jnp.maximum(jnp.minimum(v - xs[0], xs[kk - 1] - v), 0.0)
    coef = akima_coefficients(xs, ys, kk)
    return jnp.exp(akima_evaluate(xs, coef, kk, jnp.stack([v - h, v, v + h]))), h


def _stage1(x, y_run, w_run, onehot, v_fix, method):
    yn, wn = _nodes(y_run, w_run, onehot)
    row = _parabola_row if method == "parabola" else _akima_row
    vertex, curv, y_min, inside = jax.vmap(row)(x, yn, wn)
    n_nodes = jnp.sum(wn > 0, axis=-1)
    rises, h = jax.vmap(_rise_row)(x, yn, wn, jnp.where(jnp.isnan(v_fix), vertex, v_fix))
    return vertex, curv, y_min, inside, n_nodes, rises, h


_CHUNK = 128


@functools.partial(jax.jit, static_argnames="method")
def _stage1_chunk(x, y_run, w_run, onehot, v_fix, method):
    return jax.vmap(lambda y, w: _stage1(x, y, w, onehot, v_fix, method))(y_run, w_run)


def _bucket(k: int, least: int) -> int:
    return max(least, 1 << (int(k) - 1).bit_length())


def _stage1_batch(x, y_run, w_run, onehot, method, v_fix=None):
    """Stage 1 for ``(B, J, M)`` losses and weights, in chunks of a fixed size, with budgets, runs
    and nodes padded to powers of two (padding has zero weight): one compile per size bucket."""
    b, (j, m), u = y_run.shape[0], y_run.shape[1:], x.shape[1]
    jp, mp, up = _bucket(j, 16), _bucket(m, 32), _bucket(u, 32)
    xp = np.zeros((jp, up))
    xp[:j, :u] = x
    xp[:, u:] = xp[:, u - 1:u] + np.arange(1, up - u + 1)
    xp[j:] = np.arange(up)
    ohp = np.zeros((jp, mp, up))
    ohp[:j, :m, :u] = onehot
    vf = np.full(jp, np.nan)
    if v_fix is not None:
        vf[:j] = v_fix
    pad = (-b) % _CHUNK
    outs = []
    with precision(np.float64):
        for i in range(0, b + pad, _CHUNK):
            yc = np.zeros((_CHUNK, jp, mp))
            wc = np.zeros((_CHUNK, jp, mp))
            r = min(_CHUNK, b - i)
            yc[:r, :j, :m], wc[:r, :j, :m] = y_run[i:i + r], w_run[i:i + r]
            outs.append([np.asarray(v)[:r, :j] for v in _stage1_chunk(xp, yc, wc, ohp, vf, method=method)])
    return [np.concatenate(parts) for parts in zip(*outs)]


def _usable(vertex, curv, inside, n_nodes, keep_unbracketed):
    """The drop rule: finite minimum, positive curvature, >= 3 sizes, bracketed (unless kept)."""
    ok = np.isfinite(vertex) & (curv > 0) & (n_nodes >= 3)
    return ok & (inside | keep_unbracketed)


def weighted_loglog(log_c, x_opt, weights):
    """Weighted least squares of ``x_opt`` on ``log_c`` over the last axis: slope, intercept, budgets used.

    Rows with fewer than 2 distinct budgets of positive weight give NaN.
    """
    w = np.where(weights > 0, weights, 0.0)
    x_opt = np.where(w > 0, x_opt, 0.0)
    sw = w.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cm = (w * log_c).sum(-1) / sw
        xm = (w * x_opt).sum(-1) / sw
        dc = log_c - cm[..., None]
        a = (w * dc * (x_opt - xm[..., None])).sum(-1) / (w * dc * dc).sum(-1)
    used = (w > 0).sum(-1)
    ok = (used >= 2) & np.isfinite(a)
    return np.where(ok, a, np.nan), np.where(ok, xm - a * cm, np.nan), used


# ----------------------------------------------------------------------------------------------
# Result
# ----------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class IsoflopResult(Result):
    """Result of :func:`fit_isoflop` (results protocol, :mod:`jaxscale._results`).

    The quantities (``names``) are ``a``, ``k_n``, ``b``, ``k_d``: ``point`` holds their
    estimates, ``draws`` their bootstrap draws (plus ``"log_n_opt"``), ``interval("a")`` or
    ``interval(fn)`` their intervals (none from fewer valid resamples than
    :func:`jaxscale._results.min_valid_draws`). As a result it predicts ``N_opt = k_n C^a``
    (``predict(iso, {"C": ...})``) and allocates compute (``compute_optimal(iso, C)``).

    Attributes:
      budgets: all compute budgets ``C_j`` (sorted), including dropped ones.
      kept: per budget, whether its minimum entered the stage-2 fit; ``reasons``: why not ("" if kept).
      n_opt, d_opt, loss_opt, curvature: per-budget minimum ``N_opt(C_j)``, ``D_opt = C/(6 N_opt)``,
        the loss there and ``d^2 L / d(log N)^2`` at it (NaN where no minimum was found).
      a, k_n: ``N_opt = k_n C^a`` (``b = 1 - a``, ``k_d = 1/(6 k_n)``: ``D_opt = k_d C^b``).
      budget_weights: stage-2 weight of each budget (0 for dropped ones).
      resample_draws: ``{"a", "b", "k_n", "k_d"}`` of the valid resamples, plus ``"log_n_opt"``
        ``(R_valid, J)`` (NaN where a budget was left out of that resample); None without resamples.
      n_resamples, n_valid: resamples run and resamples with at least 2 usable budgets.
      method, resample, weighting, noise: the options used (``noise``: the loss noise level, given
        or estimated; used by ``resample="noise"`` and the ``flat`` diagnostic).
      columns, target: column names read (``{"N": ..., "C": ...}`` and the loss column).
      min_draws: fewest valid resamples an interval is made from (None: the default rule).
    """

    budgets: np.ndarray
    n_opt: np.ndarray
    d_opt: np.ndarray
    loss_opt: np.ndarray
    curvature: np.ndarray
    a: float
    k_n: float
    resample_draws: dict | None
    n_resamples: int
    n_valid: int
    level: float
    n_points: np.ndarray
    kept: np.ndarray = None
    reasons: tuple = ()
    budget_weights: np.ndarray = None
    method: str = "parabola"
    resample: str = "points"
    weighting: str = "none"
    noise: float = float("nan")
    diagnostics: pd.DataFrame | None = None
    columns: dict = dataclasses.field(default_factory=lambda: {"N": "N", "C": "C"})
    target: str = "loss"
    runs: dict | None = None  # {"N", "C", "loss"} arrays of the runs used, for plots and agreement()
    min_draws: int | None = None

    names = ("a", "k_n", "b", "k_d")
    law = None
    dtype = np.float64
    draw_kind = "resamples"
    no_draws_reason = "no bootstrap draws: run fit_isoflop(..., n_resamples > 0)"
    inputs = ("C",)
    positive_inputs = ("C",)

    @property
    def b(self) -> float:
        return 1.0 - self.a

    @property
    def k_d(self) -> float:
        return 1.0 / (6.0 * self.k_n)

    # -- results protocol ---------------------------------------------------------------------
    @property
    def has_draws(self) -> bool:
        return self.resample_draws is not None

    @property
    def point(self) -> dict:
        return {"a": float(self.a), "k_n": float(self.k_n), "b": float(self.b), "k_d": float(self.k_d)}

    @property
    def draws(self) -> dict:
        if self.resample_draws is None:
            return {k: np.array([v]) for k, v in self.point.items()}
        return dict(self.resample_draws)

    @property
    def valid(self) -> np.ndarray:
        return np.ones(next(iter(self.draws.values())).shape[0], dtype=bool)

    @property
    def status(self) -> Status:
        bad = self.n_resamples - self.n_valid
        dropped = [f"budget {c:.4g}: {r}" for c, r in zip(self.budgets, self.reasons) if r]
        return Status("resamples", self.n_resamples, self.n_valid,
                      {"fewer than 2 usable budgets": bad} if bad else {}, tuple(dropped))

    def describe(self) -> str:
        return "isoFLOP analysis"

    def predict_fn(self, p, x):
        """The compute-optimal model size ``N_opt = k_n C^a`` at ``x["C"]`` (one parameter set)."""
        return p["k_n"] * x["C"] ** p["a"]

    def check_allocation(self, *, tokens_for=None) -> None:
        if tokens_for is not None:
            raise ValueError("an isoFLOP analysis fits D_opt = C / (6 N_opt); tokens_for= is not supported")

    def optimal_allocation(self, p, compute, *, tokens_for=None):
        """``(N_opt, D_opt) = (k_n C^a, k_d C^b)`` for one parameter set and a scalar budget."""
        self.check_allocation(tokens_for=tokens_for)
        return p["k_n"] * compute ** p["a"], p["k_d"] * compute ** p["b"]

    def _table_columns(self, level):
        meaning = {"a": "N_opt = k_n * C^a", "k_n": "N_opt = k_n * C^a", "b": "D_opt = k_d * C^b",
                   "k_d": "D_opt = k_d * C^b"}
        return {"meaning": [meaning[k] for k in self.names]}

    def _header(self) -> list[str]:
        return [f"isoFLOP analysis ({self.method}): {int(np.sum(self.kept))}/{len(self.budgets)} budgets kept; "
                f"{self.status}"]

    def budget_table(self) -> pd.DataFrame:
        """Per budget: C, points, N_opt, D_opt, minimum loss, curvature, whether kept (and why not),
        stage-2 weight, and the diagnostics (``position`` of the minimum in the sweep's log-N range,
        ``near_edge``, ``depth`` of the curve above its minimum, ``flat``, ``asymmetry``)."""
        out = pd.DataFrame({"C": self.budgets, "n_points": self.n_points, "N_opt": self.n_opt,
                            "D_opt": self.d_opt, "loss_opt": self.loss_opt, "curvature": self.curvature,
                            "kept": self.kept, "reason": list(self.reasons), "weight": self.budget_weights})
        if self.diagnostics is not None:
            for col in self.diagnostics.columns:
                out[col] = self.diagnostics[col].to_numpy()
        return out

    def agreement(self, fit=None, *, law="chinchilla", **fit_kwargs) -> dict:
        """Approach 2 against Approach 3 on the same runs.

        ``fit``: a point fit (or result with draws) of a law of ``N`` and ``D``; by default ``law``
        is fitted to the runs (``D = C / (6 N)``) with :func:`jaxscale.fit` and ``fit_kwargs``.
        Returns ``{"a_isoflop", "a_law", "difference", "table"}``: the law's exponent is the
        least-squares slope of its ``log N_opt`` against ``log C`` over the kept budgets; ``table``
        gives per kept budget both ``N_opt`` and ``log(N_opt isoflop / N_opt law)``.
        """
        from ._extrapolate import compute_optimal
        from ._fit import fit as fit_law

        if fit is None:
            if self.runs is None:
                raise ValueError("this result carries no runs; pass fit=")
            r = self.runs
            data = {"N": r["N"], "D": r["C"] / (6.0 * r["N"]), "loss": r["loss"]}
            fit = fit_law(law, data, inputs={"N": "N", "D": "D"}, target="loss", **fit_kwargs)
        cs = self.budgets[self.kept]
        opt = compute_optimal(fit, cs)
        n_law = opt["N_opt"].to_numpy()
        a_law = float(np.polyfit(np.log(cs), np.log(n_law), 1)[0])
        table = pd.DataFrame({"C": cs, "N_opt_isoflop": self.n_opt[self.kept], "N_opt_law": n_law,
                              "log_ratio": np.log(self.n_opt[self.kept] / n_law)})
        return {"a_isoflop": float(self.a), "a_law": a_law, "difference": float(self.a - a_law), "table": table}

    def to_dict(self, level: float | None = None) -> dict:
        """JSON-ready summary."""
        method = {"parabola": "isoflop parabolas (Hoffmann et al. 2022, approach 2)",
                  "akima": "isoflop Akima interpolation (Porian et al. 2024)",
                  "law": "isoflop minima of a fitted law"}[self.method]

        def fl(v):
            return [float(x) for x in np.asarray(v, dtype=float)]

        out = {"method": method, "minimum": self.method, "resample": self.resample, "weighting": self.weighting,
               "a": float(self.a), "k_n": float(self.k_n), "b": float(self.b), "k_d": float(self.k_d),
               "budgets": fl(self.budgets), "kept": [bool(v) for v in self.kept], "reasons": list(self.reasons),
               "n_opt": fl(self.n_opt), "d_opt": fl(self.d_opt), "loss_opt": fl(self.loss_opt),
               "n_resamples": int(self.n_resamples), "n_valid": int(self.n_valid),
               "inputs": dict(self.columns), "target": self.target, "status": self.status.to_dict()}
        if self.has_draws:
            out.update(self.intervals_dict(level))
        return out

    def __repr__(self):
        ci = ""
        if self.has_draws and self.interval_reason() is None:
            lo, hi = self.interval("a")
            ci = f" [{lo:.4f}, {hi:.4f}]"
        return (f"IsoflopResult({self.method}: N_opt = {self.k_n:.4g} C^{self.a:.4f}{ci}; "
                f"{int(np.sum(self.kept))}/{len(self.budgets)} budgets kept; "
                f"{self.n_valid}/{self.n_resamples} resamples valid)")


# ----------------------------------------------------------------------------------------------
# fit_isoflop
# ----------------------------------------------------------------------------------------------
def _group_budgets(c, rtol):
    order = np.argsort(c, kind="stable")
    labels = np.empty(c.shape[0], dtype=int)
    budgets, j = [], -1
    for i in order:
        if j < 0 or abs(c[i] - budgets[j]) > rtol * budgets[j]:
            budgets.append(c[i])
            j += 1
        labels[i] = j
    return np.array(budgets), labels


def _resolve_names(inputs, target, legacy, frame):
    mapping = parse_mapping(inputs)
    unknown = set(mapping) - {"N", "C", "D"}
    if unknown:
        raise ValueError(f"inputs keys must be 'N' (model size), 'C' (compute) or 'D' (tokens); got {sorted(unknown)}")
    for old, new in (("N", "N"), ("C", "C")):
        if legacy.get(old) is not None:
            warnings.warn(f"fit_isoflop({old}=...) is deprecated; use inputs={{'{new}': ...}}", DeprecationWarning,
                          stacklevel=3)
            mapping.setdefault(new, legacy[old])
    if legacy.get("loss") is not None:
        warnings.warn("fit_isoflop(loss=...) is deprecated; use target=...", DeprecationWarning, stacklevel=3)
        target = legacy["loss"]
    mapping.setdefault("N", "N")
    if "C" not in mapping and not ("D" in mapping or ("C" not in frame.columns and "D" in frame.columns)):
        mapping["C"] = "C"
    return mapping, target


def _estimate_noise(y_run, w_run, onehot, node_of, labels_mask, x, kept):
    """Loss noise sd: pooled within-size sd of repeated runs if any; else parabola residual sd."""
    with precision(np.float64):
        yn, wn = (np.asarray(v) for v in _nodes(y_run, w_run, onehot))
    mask = labels_mask & (w_run > 0)
    resid = np.where(mask, y_run - np.take_along_axis(yn, node_of, axis=-1), 0.0)
    counts = onehot.sum(1)  # (J, U) runs per node
    dof_rep = int(np.sum(np.maximum(counts[kept] - 1, 0)))
    if dof_rep >= 2:
        return float(np.sqrt(np.sum(resid[kept] ** 2) / dof_rep)), "replicates"
    rss, dof = 0.0, 0
    for j in np.flatnonzero(kept):
        use = wn[j] > 0
        coef = np.polyfit(x[j, use], yn[j, use], 2)
        rss += float(np.sum((np.polyval(coef, x[j, use]) - yn[j, use]) ** 2))
        dof += int(use.sum()) - 3
    return (float(np.sqrt(rss / dof)) if dof > 0 else float("nan")), "parabola residuals"


def _diagnostics(x, yn, wn, vertex, y_min, noise, f, h):
    """Per budget: position of the minimum in [0, 1] of the log-N range, near_edge, depth, flat, asymmetry.

    ``x``: node log sizes ``(J, U)`` (the first ``k_j`` real, ascending); ``yn, wn``: node mean loss
    and weight; ``f, h``: the Akima interpolant at ``vertex -+ h`` and ``vertex`` (from stage 1)."""
    k = np.sum(wn > 0, axis=1)
    ok = (k >= 3) & np.isfinite(vertex) & np.all((wn > 0) == (np.arange(x.shape[1]) < k[:, None]), axis=1)
    rows = []
    for j in range(x.shape[0]):
        if not ok[j]:
            rows.append(dict(position=np.nan, near_edge=True, depth=np.nan, flat=True, asymmetry=np.nan))
            continue
        xs, ys = x[j, :k[j]], yn[j, :k[j]]
        pos = (vertex[j] - xs[0]) / (xs[-1] - xs[0])
        near = bool(vertex[j] < xs[1] or vertex[j] > xs[-2])
        depth = float(min(ys[0], ys[-1]) - y_min[j])
        rl, rr = f[j, 0] - f[j, 1], f[j, 2] - f[j, 1]
        asym = float((rr - rl) / (rr + rl)) if h[j] > 0 and (rr + rl) > 0 else np.nan
        rows.append(dict(position=float(pos), near_edge=near, depth=depth,
                         flat=bool(np.isfinite(noise) and depth < 2.0 * noise), asymmetry=asym))
    return pd.DataFrame(rows)


def fit_isoflop(data, *, inputs: Mapping | str | None = None, target: str = "loss", method: str = "parabola",
                resample: str = "points", n_resamples: int = 2000, weighting: str = "none",
                noise: float | None = None, keep_unbracketed: bool = False, law="chinchilla",
                law_options: Mapping | None = None, weights=None, seed: int = 0, level: float = 0.95, rtol: float | None = None,
                N: str | None = None, C: str | None = None, loss: str | None = None,
                min_draws: int | None = None) -> IsoflopResult:
    """IsoFLOP profiles (Approach 2): ``N_opt(C) = k_n C^a`` with bootstrap intervals.

    Args:
      data: DataFrame, CSV path or mapping with one row per training run.
      inputs: column names as in :func:`jaxscale.fit`: ``{"N": size column, "C": compute column}``
        (or ``"N=params,C=flops"``); with ``"D"`` (tokens) instead of ``"C"``, ``C = 6 N D``.
        Defaults: ``N``, ``C``. ``target``: the loss column (default ``"loss"``).
      method: per-budget minimum: ``"parabola"`` (Hoffmann et al.), ``"akima"`` (Porian et al.)
        or ``"law"`` (a fitted ``law`` of N and D, default ``"chinchilla"``). See the module doc.
      resample: ``"points"`` (runs within budgets), ``"noise"`` (seed noise on the losses) or
        ``"budgets"``; ``n_resamples`` (0: no intervals). ``method="law"`` resamples ``"points"``
        through :func:`jaxscale.bootstrap` of the law fit, or ``"budgets"``.
      weighting: ``"none"`` (ordinary least squares over budgets) or ``"inverse_variance"``
        (weights ``1 / var(log N_opt(C_j))`` from the resamples; needs ``resample`` "points" or
        "noise" and ``n_resamples >= 2``).
      law, law_options: for ``method="law"``: a law of ``N`` and ``D`` (object or registered
        name) fitted with :func:`jaxscale.fit` (``law_options`` are passed to it), or an existing
        point fit of such a law (then the runs only define the budgets and their sizes).
      noise: loss noise sd for ``resample="noise"`` and the ``flat`` diagnostic (default estimated).
      keep_unbracketed: keep budgets whose minimum lies outside the sizes run (extrapolated).
      weights: optional per-run weights (column or array) for the per-budget fits.
      seed: seed of NumPy's PCG64 generator for the resamples.
      level: default interval level. min_draws: fewest valid resamples an interval is made from
        (default :func:`jaxscale._results.min_valid_draws`: 100 at 95%); below it the table
        shows "too few valid resamples" and ``interval()`` raises.
      rtol: runs whose compute agrees to this relative tolerance form one budget (default 1e-6
        for a compute column, 0.02 when ``C = 6 N D`` is computed).
      N, C, loss: deprecated names of the columns (use ``inputs`` and ``target``).

    Budgets that give no usable minimum are dropped with one ``UserWarning`` naming them and the
    reason; fewer than 2 usable budgets raise ``ValueError``.
    """
    frame = as_frame(data)
    if frame.shape[0] == 0:
        raise ValueError("data have no rows")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if resample not in SCHEMES:
        raise ValueError(f"resample must be one of {SCHEMES}, got {resample!r}")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    n_resamples = int(n_resamples)
    if n_resamples < 0:
        raise ValueError("n_resamples must be >= 0")
    level = check_level(level)
    if weighting == "inverse_variance" and (resample == "budgets" or n_resamples < 2):
        raise ValueError("weighting='inverse_variance' needs per-budget resamples: resample='points' or 'noise' "
                         "and n_resamples >= 2")
    if method == "law" and resample == "noise":
        raise ValueError("method='law' resamples through the law's bootstrap: use resample='points' or 'budgets'")
    if noise is not None and not (np.isfinite(noise) and noise > 0):
        raise ValueError(f"noise must be a finite sd > 0, got {noise!r}")
    mapping, target = _resolve_names(inputs, target, {"N": N, "C": C, "loss": loss}, frame)
    n = numeric_column(frame, mapping["N"], "N")
    if "C" in mapping:
        c = numeric_column(frame, mapping["C"], "C")
        rtol = 1e-6 if rtol is None else float(rtol)
    else:
        c = 6.0 * n * numeric_column(frame, mapping.get("D", "D"), "D")
        rtol = 0.02 if rtol is None else float(rtol)
    y = numeric_column(frame, target, "loss")
    w = np.ones_like(y) if weights is None else numeric_column(frame, weights, "weights")
    for arr, key in ((n, "N"), (c, "C")):
        if np.any(arr <= 0):
            raise ValueError(f"column {mapping.get(key, 'D')!r} must be > 0 (logs are taken)")
    if np.any(w < 0):
        raise ValueError("weights must be >= 0")
    if method == "akima" and np.any(y <= 0):
        raise ValueError(f"method='akima' interpolates log loss: column {target!r} must be > 0")

    budgets, labels = _group_budgets(c, rtol)
    n_b = budgets.shape[0]
    if n_b < 2:
        raise ValueError(f"compute has {n_b} distinct budget(s); an isoFLOP fit needs at least 2")
    counts = np.array([int(np.sum((labels == j) & (w > 0))) for j in range(n_b)])
    # layout: runs (J, M) with their node (distinct size) index; nodes (J, U)
    m = int(max(np.sum(labels == j) for j in range(n_b)))
    sizes = [np.unique(n[(labels == j) & (w > 0)]) for j in range(n_b)]
    u = max(1, max(s.size for s in sizes))
    xs = np.zeros((n_b, u))
    ys = np.zeros((n_b, m))
    ws = np.zeros((n_b, m))
    node_of = np.zeros((n_b, m), dtype=int)
    run_mask = np.zeros((n_b, m), dtype=bool)
    row_pos = np.zeros((y.shape[0], 2), dtype=int)  # (budget, slot) of every data row
    for j in range(n_b):
        s = sizes[j]
        xs[j, :s.size] = np.log(s)
        xs[j, s.size:] = (np.log(s[-1]) if s.size else 0.0) + np.arange(1, u - s.size + 1)
        idx = np.flatnonzero(labels == j)
        ys[j, :idx.size], ws[j, :idx.size] = y[idx], w[idx]
        node_of[j, :idx.size] = np.clip(np.searchsorted(s, n[idx]), 0, max(s.size - 1, 0))
        run_mask[j, :idx.size] = True
        row_pos[idx, 0], row_pos[idx, 1] = j, np.arange(idx.size)
    ws = np.where(run_mask, ws, 0.0)
    onehot = (node_of[..., None] == np.arange(u)) & run_mask[..., None]
    onehot = onehot.astype(float)
    log_c = np.log(budgets)

    v_fix = None
    if method == "law":
        fit_obj = _law_fit(law, n, c, y, w, law_options)
        vertex, curv, y_min, inside = _law_minima(fit_obj, log_c, xs, onehot.sum(1) > 0)
        v_fix = np.where(np.isfinite(vertex), vertex, xs[:, 0])
    point = [v[0] for v in _stage1_batch(xs, ys[None], ws[None], onehot, "akima" if method == "law" else method,
                                          v_fix)]
    if method != "law":
        vertex, curv, y_min, inside = point[:4]
    n_nodes, rises, rise_h = point[4:]
    usable = _usable(vertex, curv, inside, n_nodes, keep_unbracketed)
    reasons = []
    for j in range(n_b):
        has_min = bool(np.isfinite(vertex[j]) and curv[j] > 0)
        if n_nodes[j] < 3:
            reasons.append("fewer than 3 sizes")
        elif method == "parabola" and not has_min:  # a parabola opening downward: its vertex is a maximum
            reasons.append("curvature not positive (no minimum)")
        elif not inside[j]:
            reasons.append("" if keep_unbracketed and has_min else "minimum not bracketed by the sizes run")
        elif not has_min:
            reasons.append("curvature not positive (no minimum)")
        else:
            reasons.append("")
    dropped = [j for j in range(n_b) if not usable[j]]
    if dropped:
        names = ", ".join(f"{budgets[j]:.4g} ({reasons[j]})" for j in dropped[:12])
        if len(dropped) > 12:
            names += f", ... ({len(dropped) - 12} more; see budget_table())"
        warnings.warn(f"isoFLOP: dropped {len(dropped)} of {n_b} budget(s): {names}; pass keep_unbracketed=True "
                      "to keep minima outside the sizes run", UserWarning, stacklevel=2)
    if keep_unbracketed and np.any(usable & ~inside):
        out = [f"{budgets[j]:.4g}" for j in np.flatnonzero(usable & ~inside)]
        warnings.warn(f"isoFLOP: the minimum of budget(s) {', '.join(out)} lies outside the sizes run there: "
                      "N_opt is an extrapolation", UserWarning, stacklevel=2)
    if usable.sum() < 2:
        raise ValueError(f"fewer than 2 budgets give a usable minimum ({int(usable.sum())} of {n_b}); "
                         f"reasons: {[r for r in reasons if r]}")

    # noise level (seed noise scheme, flat diagnostic)
    noise_sd = float(noise) if noise is not None else _estimate_noise(
        ys, ws, onehot, node_of, run_mask, xs, usable)[0]

    # resamples: stage-1 minima (R, J) and validity per budget
    draws, n_valid, bw = None, 0, usable.astype(float)
    rng = np.random.Generator(np.random.PCG64(seed))
    if n_resamples:
        if resample == "budgets":
            kept_idx = np.flatnonzero(usable)
            cnt = rng.multinomial(kept_idx.size, np.full(kept_idx.size, 1.0 / kept_idx.size), size=n_resamples)
            bcount = np.zeros((n_resamples, n_b))
            bcount[:, kept_idx] = cnt
            vr = np.broadcast_to(vertex, (n_resamples, n_b)).copy()
            ok_r = np.broadcast_to(usable, (n_resamples, n_b)) & (bcount > 0)
        elif method == "law":
            vr, ok_r = _law_resamples(fit_obj, n_resamples, seed, log_c, xs, onehot.sum(1) > 0, keep_unbracketed)
            ok_r &= usable
            bcount = np.ones((vr.shape[0], n_b))
        else:
            if resample == "points":
                wr = np.zeros((n_resamples, n_b, m))
                for j in range(n_b):
                    k = int(np.sum(labels == j))
                    wr[:, j, :k] = rng.multinomial(k, np.full(k, 1.0 / k), size=n_resamples) * ws[j, :k]
                yr = np.broadcast_to(ys, wr.shape)
            else:
                if not np.isfinite(noise_sd):
                    raise ValueError("cannot estimate the loss noise (no replicates, no residual degrees of freedom): "
                                     "pass noise=")
                z = rng.standard_normal((n_resamples, y.shape[0]))
                yr = np.zeros((n_resamples, n_b, m))
                yr[:, row_pos[:, 0], row_pos[:, 1]] = y[None, :] + noise_sd * z
                yr = np.where(run_mask, yr, ys)
                wr = np.broadcast_to(ws, yr.shape)
            vr, cr, _, ir, nr, _, _ = _stage1_batch(xs, yr, wr, onehot, method)
            ok_r = _usable(vr, cr, ir, nr, keep_unbracketed) & usable
            bcount = np.ones((n_resamples, n_b))
        if weighting == "inverse_variance":
            var = np.array([np.var(vr[ok_r[:, j], j], ddof=1) if ok_r[:, j].sum() >= 2 else np.nan
                            for j in range(n_b)])
            bw = np.where(usable & np.isfinite(var) & (var > 0), 1.0 / np.where(var > 0, var, 1.0), 0.0)
            if np.any(usable & (bw == 0)):
                bad = [f"{budgets[j]:.4g}" for j in np.flatnonzero(usable & (bw == 0))]
                warnings.warn(f"isoFLOP: no resample variance for budget(s) {', '.join(bad)}; weight 0",
                              UserWarning, stacklevel=2)
        wr2 = np.where(ok_r, bcount * bw, 0.0)
        ar, lkr, _ = weighted_loglog(log_c, np.where(ok_r, vr, 0.0), wr2)
        valid = np.isfinite(ar)
        n_valid = int(valid.sum())
        kn = np.exp(lkr[valid])
        draws = {"a": ar[valid], "b": 1.0 - ar[valid], "k_n": kn, "k_d": 1.0 / (6.0 * kn),
                 "log_n_opt": np.where(ok_r, vr, np.nan)[valid]}
    a, log_k, _ = weighted_loglog(log_c, np.where(usable, vertex, 0.0), bw)
    if not np.isfinite(a):
        raise ValueError("stage-2 fit failed: fewer than 2 budgets with positive weight")
    with np.errstate(invalid="ignore"):
        n_opt = np.where(usable | (np.isfinite(vertex) & (curv > 0)), np.exp(vertex), np.nan)
    with precision(np.float64):
        yn, wn = (np.asarray(v) for v in _nodes(ys, ws, onehot))
    diag = _diagnostics(xs, yn, wn, np.log(n_opt), y_min, noise_sd, rises, rise_h)
    return IsoflopResult(
        budgets=budgets, n_opt=n_opt, d_opt=budgets / (6.0 * n_opt),
        loss_opt=np.where(np.isfinite(n_opt), y_min, np.nan), curvature=np.where(np.isfinite(n_opt), curv, np.nan),
        a=float(a), k_n=float(np.exp(log_k)), resample_draws=draws, n_resamples=n_resamples, n_valid=n_valid,
        level=float(level), n_points=counts, kept=usable, reasons=tuple(reasons), budget_weights=bw,
        method=method, resample=resample, weighting=weighting, noise=noise_sd, diagnostics=diag,
        columns=dict(mapping), target=target, runs={"N": n.copy(), "C": c.copy(), "loss": y.copy()},
        min_draws=None if min_draws is None else int(min_draws))


# ----------------------------------------------------------------------------------------------
# method="law"
# ----------------------------------------------------------------------------------------------
def _law_fit(law, n, c, y, w, options):
    from ._fit import FitResult
    from ._fit import fit as fit_law

    if isinstance(law, FitResult):
        res = law
    else:
        data = {"N": n, "D": c / (6.0 * n), "loss": y, "w": w}
        opts = {"progress": False, **dict(options or {})}
        res = fit_law(law, data, inputs={"N": "N", "D": "D"}, target="loss", weights="w", **opts)
    if set(res.law.inputs) != {"N", "D"}:
        raise ValueError(f"method='law' needs a law of N and D; {res.law.name!r} has inputs {list(res.law.inputs)}")
    return res


_LAW_GRID = 257


def _law_minima(result, log_c, xs, node_mask, draws: bool = False):
    """Minimum over log N of ``law(N, C/(6N))`` per budget: a grid over the sizes run widened by 1
    in log N on each side, then a parabola through the best grid point and its neighbours. At the
    point estimate of ``result`` (outputs ``(J,)``), or with ``draws`` over its valid draws
    (``result.samples``; outputs ``(R, J)``)."""
    law = result.law
    lo = np.min(np.where(node_mask, xs, np.inf), axis=1) - 1.0
    hi = np.max(np.where(node_mask, xs, -np.inf), axis=1) + 1.0
    grid = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, _LAW_GRID)[None, :]  # (J, G)
    step = (hi - lo) / (_LAW_GRID - 1)
    lcc = np.broadcast_to(log_c[:, None], grid.shape)

    def one(p):
        nn = jnp.exp(grid)
        f = law.predict(p, {"N": nn, "D": jnp.exp(lcc) / (6.0 * nn)})
        f = jnp.where(jnp.isfinite(f), f, jnp.inf)
        i = jnp.clip(jnp.argmin(f, axis=1), 1, _LAW_GRID - 2)
        fm, f0, fp = (jnp.take_along_axis(f, (i + s)[:, None], axis=1)[:, 0] for s in (-1, 0, 1))
        den = fm - 2.0 * f0 + fp
        off = jnp.clip(jnp.where(den > 0, 0.5 * (fm - fp) / jnp.where(den > 0, den, 1.0), 0.0), -1.0, 1.0)
        x = jnp.take_along_axis(grid, i[:, None], axis=1)[:, 0] + off * step
        ymin = f0 - 0.25 * (fm - fp) * off
        return jnp.stack([x, den / step ** 2, ymin])  # (3, J)

    out = result.samples(one) if draws else result.estimate(one)
    x, curv, ymin = (np.asarray(v) for v in np.moveaxis(out, -2, 0))
    inside = (x >= lo + 1.0) & (x <= hi - 1.0)
    return x, curv, ymin, inside


def _law_resamples(fit_obj, n_resamples, seed, log_c, xs, node_mask, keep_unbracketed):
    from ._bootstrap import bootstrap

    boot = bootstrap(fit_obj, n_resamples, seed=seed, progress=False, on_failure="ignore")
    x, curv, _, inside = _law_minima(boot, log_c, xs, node_mask, draws=True)
    ok = np.isfinite(x) & (curv > 0) & (inside | keep_unbracketed)
    return x, ok


# ----------------------------------------------------------------------------------------------
# save / load (JSON; used by jaxscale.save and jaxscale.load)
# ----------------------------------------------------------------------------------------------
ISOFLOP_KIND = "jaxscale.IsoflopResult"


def _enc(v):
    if isinstance(v, pd.DataFrame):
        return {"__frame__": {str(k): _enc(v[k].to_numpy()) for k in v.columns}}
    if isinstance(v, np.ndarray):
        kind = v.dtype.kind
        flat = v.ravel().tolist()
        if kind == "f":
            flat = [x if np.isfinite(x) else str(x) for x in flat]
        return {"__array__": "float64" if kind == "f" else ("bool" if kind == "b" else "int64"),
                "shape": list(v.shape), "data": flat}
    if isinstance(v, Mapping):
        return {"__dict__": {str(k): _enc(x) for k, x in v.items()}}
    if isinstance(v, tuple):
        return {"__tuple__": [_enc(x) for x in v]}
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if np.isfinite(v) else {"__float__": str(v)}
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    return v


def _dec(v):
    if isinstance(v, dict):
        if "__array__" in v:
            data = [float(x) if isinstance(x, str) else x for x in v["data"]]
            return np.asarray(data, dtype=v["__array__"]).reshape(v["shape"])
        if "__frame__" in v:
            return pd.DataFrame({k: _dec(x) for k, x in v["__frame__"].items()})
        if "__dict__" in v:
            return {k: _dec(x) for k, x in v["__dict__"].items()}
        if "__tuple__" in v:
            return tuple(_dec(x) for x in v["__tuple__"])
        if "__float__" in v:
            return float(v["__float__"])
    return v


def isoflop_to_json(result: IsoflopResult) -> dict:
    """Every field of ``result`` as JSON-ready values (arrays with dtype and shape, non-finite floats
    as strings), under ``{"kind": "jaxscale.IsoflopResult", "fields": ...}``."""
    from ._version import __version__

    return {"kind": ISOFLOP_KIND, "format": 1, "jaxscale_version": __version__,
            "fields": {f.name: _enc(getattr(result, f.name)) for f in dataclasses.fields(result)}}


def isoflop_from_json(doc: Mapping) -> IsoflopResult:
    """The :class:`IsoflopResult` written by :func:`isoflop_to_json`; ValueError for another document."""
    if doc.get("kind") != ISOFLOP_KIND or "fields" not in doc:
        raise ValueError("not a saved isoFLOP result")
    names = {f.name for f in dataclasses.fields(IsoflopResult)}
    fields = {k: _dec(v) for k, v in doc["fields"].items()}
    unknown = set(fields) - names
    if unknown:
        raise ValueError(f"saved isoFLOP result has unknown fields {sorted(unknown)} (written by another version)")
    return IsoflopResult(**fields)
