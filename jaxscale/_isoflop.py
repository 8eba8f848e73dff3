"""IsoFLOP analysis (Hoffmann et al. 2022, approach 2) with batched bootstrap intervals.

For every compute budget ``C_j`` a parabola in ``x = log N`` is fitted to the losses of that
budget's runs by weighted least squares (closed form: 3x3 normal equations, all budgets at once
under ``vmap`` with fixed shapes and masks); its vertex is ``log N_opt(C_j)``. Then power laws
``N_opt = k_N C^a`` and ``D_opt = C / (6 N_opt) = k_D C^b`` are fitted by least squares in log-log
(so ``b = 1 - a``). Bootstrap intervals resample the runs *within* each budget (multinomial
counts as weights, so every resample has one shape) and redo both stages for thousands of
resamples in one compiled call.
"""

from __future__ import annotations

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ._config import precision
from ._data import as_frame, numeric_column

__all__ = ["fit_isoflop", "IsoflopResult"]


def _parabolas(x, y, w):
    """Weighted LS parabola ``y = c0 + c1 x + c2 x^2`` per row (budget); x centred per row.

    ``x, y, w``: ``(J, M)``. Returns vertex ``(J,)`` (in x units), curvature ``c2`` ``(J,)`` and the
    minimum value ``(J,)``.
    """
    sw = jnp.sum(w, axis=-1, keepdims=True)
    xm = jnp.sum(w * x, axis=-1, keepdims=True) / sw
    xc = x - xm
    basis = jnp.stack([jnp.ones_like(xc), xc, xc * xc], axis=-1)  # (J, M, 3)
    a = jnp.einsum("jmk,jml,jm->jkl", basis, basis, w)
    b = jnp.einsum("jmk,jm,jm->jk", basis, y, w)
    c = jnp.linalg.solve(a, b[..., None])[..., 0]
    vertex_c = -c[:, 1] / (2.0 * c[:, 2])
    y_min = c[:, 0] + c[:, 1] * vertex_c + c[:, 2] * vertex_c ** 2
    return xm[:, 0] + vertex_c, c[:, 2], y_min


def _loglog(log_c, log_n, valid):
    """OLS of log N_opt on log C over valid budgets: slope a and intercept log k."""
    v = valid.astype(log_c.dtype)
    n = jnp.sum(v)
    cm = jnp.sum(v * log_c) / n
    nm = jnp.sum(v * log_n) / n
    a = jnp.sum(v * (log_c - cm) * (log_n - nm)) / jnp.sum(v * (log_c - cm) ** 2)
    return a, nm - a * cm


def _stage(x, y, w, log_c):
    vertex, curv, y_min = _parabolas(x, y, w)
    used = w > 0
    inside = (vertex >= jnp.min(jnp.where(used, x, jnp.inf), axis=-1)) & \
        (vertex <= jnp.max(jnp.where(used, x, -jnp.inf), axis=-1))
    ok = jnp.isfinite(vertex) & (curv > 0)
    a, log_k = _loglog(log_c, jnp.where(ok, vertex, 0.0), ok)
    return vertex, curv, y_min, a, log_k, jnp.all(ok & inside), inside


_stage_jit = jax.jit(_stage)
_stage_boot = jax.jit(jax.vmap(_stage, in_axes=(None, None, 0, None)))


@dataclasses.dataclass(frozen=True, eq=False)
class IsoflopResult:
    """Result of :func:`fit_isoflop`.

    Attributes:
      budgets: the compute budgets ``C_j`` (sorted).
      n_opt, d_opt, loss_opt: per-budget parabola vertices ``N_opt(C_j)``, ``D_opt = C/(6 N_opt)``
        and the parabola's minimum loss.
      curvature: per-budget ``c2`` of ``loss = c0 + c1 log N + c2 (log N)^2`` (> 0).
      a, k_n: ``N_opt = k_n C^a``. b, k_d: ``D_opt = k_d C^b`` (``b = 1 - a``, ``k_d = 1/(6 k_n)``).
      draws: bootstrap draws ``{"a", "b", "k_n", "k_d"}`` of the valid resamples (or None).
      n_resamples, n_valid: resamples run and resamples where every budget's parabola was usable.
      level: interval level.
    """

    budgets: np.ndarray
    n_opt: np.ndarray
    d_opt: np.ndarray
    loss_opt: np.ndarray
    curvature: np.ndarray
    a: float
    k_n: float
    draws: dict | None
    n_resamples: int
    n_valid: int
    level: float
    n_points: np.ndarray

    @property
    def b(self) -> float:
        return 1.0 - self.a

    @property
    def k_d(self) -> float:
        return 1.0 / (6.0 * self.k_n)

    def interval(self, name: str, level: float | None = None) -> np.ndarray:
        """Equal-tailed bootstrap interval ``[lo, hi]`` of ``"a"``, ``"b"``, ``"k_n"`` or ``"k_d"``."""
        if self.draws is None:
            raise ValueError("no bootstrap draws: run fit_isoflop(..., n_resamples > 0)")
        if name not in self.draws:
            raise ValueError(f"name must be one of {sorted(self.draws)}, got {name!r}")
        level = self.level if level is None else float(level)
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        return np.quantile(self.draws[name], [(1 - level) / 2, (1 + level) / 2])

    def table(self, level: float | None = None) -> pd.DataFrame:
        """One row per fitted quantity (a, k_n, b, k_d): value, bootstrap SE and interval."""
        level = self.level if level is None else float(level)
        pct = f"{100 * level:g}%"
        names = ["a", "k_n", "b", "k_d"]
        rows = {}
        for k in names:
            row = {"value": getattr(self, k)}
            if self.draws is not None and self.n_valid >= 2:
                lo, hi = self.interval(k, level)
                row.update({"se": float(np.std(self.draws[k], ddof=1)), f"lo {pct}": lo, f"hi {pct}": hi})
            rows[k] = row
        meaning = {"a": "N_opt = k_n * C^a", "k_n": "N_opt = k_n * C^a", "b": "D_opt = k_d * C^b",
                   "k_d": "D_opt = k_d * C^b"}
        out = pd.DataFrame.from_dict(rows, orient="index").rename_axis("quantity")
        out["meaning"] = [meaning[k] for k in out.index]
        return out

    def budget_table(self) -> pd.DataFrame:
        """Per budget: C, points, N_opt, D_opt, minimum loss and parabola curvature."""
        return pd.DataFrame({"C": self.budgets, "n_points": self.n_points, "N_opt": self.n_opt,
                             "D_opt": self.d_opt, "loss_opt": self.loss_opt, "curvature": self.curvature})

    def to_dict(self, level: float | None = None) -> dict:
        """JSON-ready summary."""
        out = {"method": "isoflop (Hoffmann et al. 2022, approach 2)",
               "a": float(self.a), "k_n": float(self.k_n), "b": float(self.b), "k_d": float(self.k_d),
               "budgets": [float(c) for c in self.budgets], "n_opt": [float(v) for v in self.n_opt],
               "d_opt": [float(v) for v in self.d_opt], "loss_opt": [float(v) for v in self.loss_opt],
               "n_resamples": int(self.n_resamples), "n_valid": int(self.n_valid)}
        if self.draws is not None and self.n_valid >= 2:
            level = self.level if level is None else float(level)
            out["level"] = level
            out["intervals"] = {k: [float(v) for v in self.interval(k, level)] for k in ("a", "k_n", "b", "k_d")}
        return out

    def __repr__(self):
        ci = ""
        if self.draws is not None and self.n_valid >= 2:
            lo, hi = self.interval("a")
            ci = f" [{lo:.4f}, {hi:.4f}]"
        return (f"IsoflopResult(N_opt = {self.k_n:.4g} C^{self.a:.4f}{ci}; {len(self.budgets)} budgets; "
                f"{self.n_valid}/{self.n_resamples} resamples valid)")


def fit_isoflop(data, *, N: str = "N", C: str = "C", loss: str = "loss", weights=None, n_resamples: int = 2000,
            seed: int = 0, level: float = 0.95, rtol: float = 1e-6) -> IsoflopResult:
    """IsoFLOP profiles (Hoffmann et al. 2022, approach 2): ``N_opt(C) = k C^a`` with bootstrap intervals.

    Args:
      data: DataFrame, CSV path or mapping with one row per training run.
      N, C, loss: column names of model size, compute budget and final loss. Rows whose compute
        agrees to relative ``rtol`` form one budget.
      weights: optional per-run weights (column or array) for the per-budget parabola fits.
      n_resamples: bootstrap resamples (runs resampled with replacement within each budget);
        0 for no intervals. All are solved in one ``vmap``-ed call.
      seed: seed of NumPy's PCG64 generator for the resampling counts.
      level: default interval level.

    Per budget, ``loss = c0 + c1 log N + c2 (log N)^2`` is fitted by weighted least squares and
    ``log N_opt = -c1 / (2 c2)``; then ``log N_opt = log k_n + a log C`` by ordinary least squares
    across budgets. ``D_opt = C / (6 N_opt)`` gives ``b = 1 - a``, ``k_d = 1 / (6 k_n)``.

    Raises ValueError when a budget has fewer than 3 runs (with positive weight), when a budget's
    parabola opens downward (``c2 <= 0``: no minimum, the budget does not bracket the optimum) or
    when there are fewer than 2 budgets. Resamples in which a budget has fewer than 3 distinct runs
    or opens downward or has its vertex outside that budget's resampled model sizes are dropped
    from the intervals (``n_valid`` counts the rest). A vertex outside the model sizes of the full
    data only warns (``N_opt`` is then an extrapolation).
    """
    frame = as_frame(data)
    if frame.shape[0] == 0:
        raise ValueError("data have no rows")
    n = numeric_column(frame, N, "N")
    c = numeric_column(frame, C, "C")
    y = numeric_column(frame, loss, "loss")
    w = np.ones_like(y) if weights is None else numeric_column(frame, weights, "weights")
    for arr, name in ((n, N), (c, C)):
        if np.any(arr <= 0):
            raise ValueError(f"column {name!r} must be > 0 (logs are taken)")
    if np.any(w < 0):
        raise ValueError("weights must be >= 0")
    if int(n_resamples) < 0:
        raise ValueError("n_resamples must be >= 0")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    # group budgets by relative tolerance
    order = np.argsort(c, kind="stable")
    labels = np.empty(c.shape[0], dtype=int)
    budgets, j = [], -1
    for i in order:
        if j < 0 or abs(c[i] - budgets[j]) > rtol * budgets[j]:
            budgets.append(c[i])
            j += 1
        labels[i] = j
    budgets = np.array(budgets)
    n_b = budgets.shape[0]
    if n_b < 2:
        raise ValueError(f"column {C!r} has {n_b} distinct compute budget(s); an isoFLOP fit needs at least 2")
    counts = np.array([int(np.sum((labels == j) & (w > 0))) for j in range(n_b)])
    few = np.flatnonzero(counts < 3)
    if few.size:
        raise ValueError(f"budget(s) {[float(budgets[j]) for j in few]} (column {C!r}) have fewer than 3 runs "
                         "with positive weight; a parabola needs at least 3")
    m = int(max(np.sum(labels == j) for j in range(n_b)))
    xs = np.zeros((n_b, m))
    ys = np.zeros((n_b, m))
    ws = np.zeros((n_b, m))
    for j in range(n_b):
        idx = np.flatnonzero(labels == j)
        xs[j, :idx.size], ys[j, :idx.size], ws[j, :idx.size] = np.log(n[idx]), y[idx], w[idx]
        xs[j, idx.size:] = xs[j, 0]  # padding: any finite value, zero weight
    log_c = np.log(budgets)
    with precision(np.float64):
        vertex, curv, y_min, a, log_k, _, inside = (np.asarray(v) for v in _stage_jit(xs, ys, ws, log_c))
    bad = np.flatnonzero(~(curv > 0) | ~np.isfinite(vertex))
    if bad.size:
        raise ValueError(f"the parabola of budget(s) {[float(budgets[j]) for j in bad]} opens downward "
                         "(no minimum in log N): the runs of that budget do not bracket its optimum")
    outside = np.flatnonzero(~inside)
    if outside.size:
        warnings.warn(f"the parabola vertex of budget(s) {[float(budgets[j]) for j in outside]} lies outside the "
                      "model sizes run at that budget: N_opt there is an extrapolation", UserWarning, stacklevel=2)
    draws, n_valid = None, 0
    if n_resamples:
        rng = np.random.Generator(np.random.PCG64(seed))
        wb = np.zeros((int(n_resamples), n_b, m))
        for j in range(n_b):
            k = int(np.sum(labels == j))
            wb[:, j, :k] = rng.multinomial(k, np.full(k, 1.0 / k), size=int(n_resamples)) * ws[j, :k]
        distinct = np.sum(wb > 0, axis=-1) >= 3  # (R, J): at least 3 distinct runs per budget
        with precision(np.float64):
            _, _, _, ab, lkb, okb, _ = (np.asarray(v) for v in _stage_boot(xs, ys, wb, log_c))
        valid = okb & distinct.all(axis=1) & np.isfinite(ab)
        n_valid = int(valid.sum())
        kn = np.exp(lkb[valid])
        draws = {"a": ab[valid], "b": 1.0 - ab[valid], "k_n": kn, "k_d": 1.0 / (6.0 * kn)}
    n_opt = np.exp(vertex)
    return IsoflopResult(budgets, n_opt, budgets / (6.0 * n_opt), y_min, curv, float(a), float(np.exp(log_k)),
                         draws, int(n_resamples), n_valid, float(level), counts)
