"""Plots of fits, intervals and compute-optimal frontiers (matplotlib; ArviZ for posteriors).

Every function returns a :class:`matplotlib.figure.Figure` and writes it to ``save`` when given
(``save="fit.png"``; PNG at 100 dpi). Figures are built with the object-oriented API
(``matplotlib.figure.Figure``, never ``pyplot``), so plotting needs no display, never changes
the global backend and leaves no figures open. Pass ``ax=`` to draw into your own axes.

* :func:`plot_fit` -- the data, the fitted law and its interval band on log axes, extrapolated
  to a target scale.
* :func:`plot_isoloss` -- Chinchilla-style iso-loss contours of ``L(N, D = C / (6 N))`` in the
  ``(C, N)`` plane, with the compute-optimal frontier ``N_opt(C)`` and its band.
* :func:`plot_exponents` -- bootstrap histograms, or ArviZ posterior densities, of the exponents.
* :func:`plot_isoflop` -- isoFLOP curves: loss against model size at fixed compute budgets.
* :func:`plot_backtest` -- a backtest (:func:`~jaxscale.backtest`): predicted against actual for
  the held-out runs, with their prediction intervals, one panel per cutoff.

Bands are equal-tailed intervals of the plotted quantity computed from the draws of a
:class:`~jaxscale.BootstrapResult` or :class:`~jaxscale.PosteriorResult` (the draws are pushed
through the law, so the band is for the curve, not for new observations). A plain
:class:`~jaxscale.FitResult` gives the curve without a band.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._data import as_frame, load_data, parse_mapping
from ._results import check_level, interval_or_nan

__all__ = ["plot_fit", "plot_isoloss", "plot_exponents", "plot_isoflop", "plot_backtest"]

_DPI = 100


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------
def _new_axes(ax, figsize=(6.0, 4.2)):
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _plain_log_y(ax):
    """Log-scaled y axis with plain tick labels (losses span less than a decade)."""
    from matplotlib.ticker import LogFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(4, 2)))
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(4, 2)))


def _finish(fig, save):
    if save is not None:
        fig.savefig(save, dpi=_DPI)
    return fig


def _law_result(result):
    """The result's law (results protocol), or a ValueError for results without one."""
    if result.law is None:
        raise ValueError(f"this plot needs a fitted law; {result.describe()} has none")
    return result.law


def _band(result, fn, level):
    """Point curve ``fn(point)`` and, with draws, its equal-tailed ``(lo, hi)`` (``fn``: one parameter set)."""
    est = result.estimate(fn)
    ci, _ = interval_or_nan(result, fn, level, est.shape)
    return est, None if ci is None else (ci[..., 0], ci[..., 1])


def _points(result, data):
    """Inputs and target of the fitted data, or of ``data`` read with the fit's column mapping."""
    fitted = result.data
    if data is None:
        return dict(fitted.inputs), np.asarray(fitted.y)
    ds = load_data(data, result.law, inputs=fitted.columns, target=fitted.target, log_target=False)
    return dict(ds.inputs), np.asarray(ds.y)


def _predict(result, inputs):
    """The point estimate's prediction (jitted once per law and shape, not once per eager op)."""
    x = {k: np.asarray(v, dtype=float) for k, v in inputs.items()}
    return result.estimate(lambda p: result.predict_fn(p, {k: jnp.asarray(v) for k, v in x.items()}))


def _is_nd(law) -> bool:
    return set(law.inputs) == {"N", "D"}


def _optimal_nd(result, p, cs):
    """``(N_opt, D_opt)`` under ``C = 6 N D`` for budgets ``cs`` (G,), for ONE parameter set ``p``."""
    return jax.vmap(lambda c: result.optimal_allocation(p, c))(jnp.asarray(cs))


def _loglinear(x, y):
    """Least-squares ``log y = a + b log x``; returns a function of ``x``."""
    lx, ly = np.log(x), np.log(y)
    if np.ptp(lx) == 0:
        return lambda g: np.full_like(np.asarray(g, dtype=float), np.exp(ly.mean()))
    b, a = np.polyfit(lx, ly, 1)
    return lambda g: np.exp(a + b * np.log(g))


# ----------------------------------------------------------------------------------------------
# plot_fit
# ----------------------------------------------------------------------------------------------
def plot_fit(result, data=None, *, x: str | None = None, along: str | None = None, extrapolate_to: float | None = None,
             level: float | None = None, n_grid: int = 120, ax=None, save=None, color: str = "C0",
             group_label: str | None = None):
    r"""The data, the fitted law and its interval band on log-log axes, extrapolated to a target.

    Args:
      result: a :class:`~jaxscale.FitResult` (curve only), :class:`~jaxscale.BootstrapResult` or
        :class:`~jaxscale.PosteriorResult` (curve with an equal-tailed band at ``level``).
      data: points to show (DataFrame, CSV path or mapping, read with the fit's column mapping);
        default: the fitted data.
      x: the horizontal axis: one of the law's inputs, or ``"C"`` (compute, ``C = 6 N D``) for a
        law of ``N`` and ``D``. Default: the only input of a one-input law, ``"C"`` for laws of
        ``N`` and ``D``, else the first input.
      along: how a multi-input law's other inputs follow ``x`` on the curve. ``"optimal"``
        (laws of ``N`` and ``D``, default when ``x="C"``): the compute-optimal frontier, i.e.
        :math:`L_{opt}(C) = \min_{6ND=C} L(N, D)` plotted against ``C`` (or against
        ``N_opt``/``D_opt``); ``"data"`` (the default otherwise): each other input follows the
        least-squares log-linear relation :math:`\log z = a + b \log x` of the data, so a
        fixed tokens-per-parameter ratio in the data is kept on the curve.
      extrapolate_to: extend the curve to this value of ``x`` and mark the prediction there.
      level: band level (default: the result's, 0.95).
      ax: draw into these axes; save: write the figure here (PNG by extension).
      color, group_label: the curve's colour and a label prefix. A grouped result draws every
        group into the same axes (its own fitted points), one colour each, labelled ``column=value``.

    Returns the :class:`matplotlib.figure.Figure`.
    """
    if result.group_column is not None:
        fig, ax = _new_axes(ax)
        for i, (key, part) in enumerate(result.parts()):
            plot_fit(part, None, x=x, along=along, extrapolate_to=extrapolate_to, level=level, n_grid=n_grid, ax=ax,
                     color=f"C{i % 10}", group_label=f"{result.group_column}={key}")
        return _finish(fig, save)
    law = _law_result(result)
    level = check_level(result.level if level is None else level)
    xs_data, y_data = _points(result, data)
    multi = [k for k, v in xs_data.items() if np.ndim(v) != 1]
    if multi:
        raise ValueError(f"plot_fit draws laws of 1-d inputs; input(s) {multi} of {law.name!r} are not 1-d "
                         "(plot FitResult.predict or result.interval(fn) by hand, as in notebooks/04)")
    nd = _is_nd(law)
    compute_x = nd and x == "C"  # compute C = 6 N D, not an input of the law
    if x is None:
        x = law.inputs[0] if len(law.inputs) == 1 else ("C" if nd else law.inputs[0])
        compute_x = nd and x == "C"
    allowed = list(law.inputs) + (["C"] if nd else [])
    if x not in allowed:
        raise ValueError(f"x must be one of {allowed} for law {law.name!r}, got {x!r}")
    if along is None:
        along = "optimal" if compute_x else "data"
    if along not in ("optimal", "data"):
        raise ValueError(f"along must be 'optimal' or 'data', got {along!r}")
    if along == "optimal" and not nd:
        raise ValueError(f"along='optimal' needs a law of N and D; {law.name!r} has inputs {list(law.inputs)}")
    x_data = 6.0 * xs_data["N"] * xs_data["D"] if compute_x else xs_data[x]
    if np.any(x_data <= 0):
        raise ValueError(f"x={x!r} must be > 0 for a log axis")
    lo_x, hi_x = float(x_data.min()), float(x_data.max())
    if extrapolate_to is not None:
        if not np.isfinite(extrapolate_to) or extrapolate_to <= 0:
            raise ValueError("extrapolate_to must be finite and > 0")
        lo_x, hi_x = min(lo_x, float(extrapolate_to)), max(hi_x, float(extrapolate_to))
    grid = np.logspace(np.log10(lo_x), np.log10(hi_x), int(n_grid))

    if along == "optimal":
        if not compute_x:
            raise ValueError("along='optimal' plots against compute: use x='C'")

        def fn(p):
            n, d = _optimal_nd(result, p, grid)
            return result.predict_fn(p, {"N": n, "D": d})

        label = f"fitted {law.name}, compute-optimal $L_{{opt}}(C)$"
    else:
        ties = {k: _loglinear(x_data, xs_data[k]) for k in law.inputs if k != x}
        if compute_x:
            n_of = _loglinear(x_data, xs_data["N"])
            inputs = {"N": n_of(grid), "D": grid / (6.0 * n_of(grid))}
        else:
            inputs = {k: (grid if k == x else ties[k](grid)) for k in law.inputs}

        def fn(p):
            return result.predict_fn(p, {k: jnp.asarray(v) for k, v in inputs.items()})

        label = f"fitted {law.name}"

    est, band = _band(result, fn, level)
    fig, ax = _new_axes(ax)
    if group_label is not None:
        label = f"{group_label}: {label}"
    ax.scatter(x_data, y_data, s=12, color="0.35" if group_label is None else color, alpha=0.7,
               label="data" if group_label is None else None, zorder=3)
    ax.plot(grid, est, color=color, lw=2, label=label, zorder=4)
    if band is not None:
        ax.fill_between(grid, band[0], band[1], color=color, alpha=0.25, lw=0,
                        label=f"{level:.0%} interval" if group_label is None else None, zorder=2)
    if extrapolate_to is not None:
        at = lambda v: float(np.exp(np.interp(np.log(extrapolate_to), np.log(grid), np.log(v))))  # noqa: E731
        y_t = at(est)
        txt = f"{x} = {extrapolate_to:.3g}: {y_t:.4g}"
        if band is not None:
            txt += f"\n{level:.0%} interval [{at(band[0]):.4g}, {at(band[1]):.4g}]"
        ax.axvline(extrapolate_to, color="C3", ls=":", lw=1)
        ax.plot([extrapolate_to], [y_t], marker="*", ms=11, color="C3", mec="k", zorder=5)
        ax.annotate(txt, xy=(extrapolate_to, y_t), xytext=(-8, 14), textcoords="offset points", ha="right",
                    fontsize=8, color="C3")
    ax.set_xscale("log")
    _plain_log_y(ax)
    ax.set_xlabel("compute C = 6ND (FLOP)" if compute_x else {"N": "parameters N", "D": "tokens D"}.get(x, x))
    ax.set_ylabel(result.data.target)
    ax.legend(fontsize=8, loc="upper right")
    return _finish(fig, save)


# ----------------------------------------------------------------------------------------------
# plot_isoloss
# ----------------------------------------------------------------------------------------------
def plot_isoloss(result, *, data=None, compute: Sequence[float] | None = None, n_range: Sequence[float] | None = None,
                 extrapolate_to: float | None = None, levels: int | Sequence[float] = 12, level: float | None = None,
                 n_grid: int = 80, ax=None, save=None):
    r"""Iso-loss contours in the ``(C, N)`` plane with the compute-optimal frontier and its band.

    The loss surface is :math:`L(N, D = C / (6N))` (Hoffmann et al. 2022, Figure 4 / Eq. 4):
    contours of the fitted law on log axes, the frontier
    :math:`N_{opt}(C) = \arg\min_N L(N, C / (6N))` of the point fit (closed form
    :math:`N_{opt} = G (C/6)^{\beta/(\alpha+\beta)}` for the Chinchilla law, numerical for other
    laws of ``N`` and ``D``) and, for results with draws, its equal-tailed band at ``level``.

    Args:
      result: a fit, bootstrap or posterior result of a law with inputs ``N`` and ``D``.
      data: points to overlay (default: the fitted data).
      compute: ``(C_min, C_max)`` of the plot (default: the data's range, to ``extrapolate_to``).
      n_range: ``(N_min, N_max)`` (default: around the data and the frontier).
      extrapolate_to: a compute budget to mark on the frontier.
      levels: number of contour levels or their values.
    """
    law = _law_result(result)
    if not _is_nd(law):
        raise ValueError(f"plot_isoloss needs a law of N and D; {law.name!r} has inputs {list(law.inputs)}")
    level = check_level(result.level if level is None else level)
    xs_data, _ = _points(result, data)
    c_data = 6.0 * xs_data["N"] * xs_data["D"]
    if compute is None:
        c_lo, c_hi = float(c_data.min()) / 3, float(c_data.max()) * 3
        if extrapolate_to is not None:
            c_hi = max(c_hi, 3 * float(extrapolate_to))
    else:
        c_lo, c_hi = map(float, compute)
    if not (0 < c_lo < c_hi):
        raise ValueError(f"compute must be (C_min, C_max) with 0 < C_min < C_max, got {(c_lo, c_hi)}")
    cs = np.logspace(np.log10(c_lo), np.log10(c_hi), int(n_grid))
    n_est, n_band = _band(result, lambda p: _optimal_nd(result, p, cs)[0], level)
    if n_range is None:
        n_lo = min(float(xs_data["N"].min()), float(n_est.min())) / 10
        n_hi = max(float(xs_data["N"].max()), float(n_est.max())) * 10
    else:
        n_lo, n_hi = map(float, n_range)
    if not (0 < n_lo < n_hi):
        raise ValueError(f"n_range must be (N_min, N_max) with 0 < N_min < N_max, got {(n_lo, n_hi)}")
    ns = np.logspace(np.log10(n_lo), np.log10(n_hi), int(n_grid))
    cc, nn = np.meshgrid(cs, ns)
    loss = _predict(result, {"N": nn, "D": cc / (6.0 * nn)})

    fig, ax = _new_axes(ax, figsize=(6.4, 4.6))
    finite = np.isfinite(loss)
    if isinstance(levels, int):
        lv = np.geomspace(np.nanmin(loss[finite]), np.nanpercentile(loss[finite], 90), levels)
    else:
        lv = np.asarray(levels, dtype=float)
    cont = ax.contourf(cc, nn, np.where(finite, loss, np.nan), levels=lv, cmap="viridis", extend="max")
    ax.contour(cc, nn, np.where(finite, loss, np.nan), levels=lv, colors="white", linewidths=0.4, alpha=0.6)
    fig.colorbar(cont, ax=ax, label=f"predicted {result.data.target}")
    ax.plot(cs, n_est, color="C3", lw=2, label="compute-optimal $N_{opt}(C)$")
    if n_band is not None:
        ax.fill_between(cs, n_band[0], n_band[1], color="C3", alpha=0.3, lw=0, label=f"{level:.0%} interval")
    ax.scatter(c_data, xs_data["N"], s=8, color="white", edgecolor="k", lw=0.3, label="data", zorder=3)
    if extrapolate_to is not None:
        n_t = np.exp(np.interp(np.log(extrapolate_to), np.log(cs), np.log(n_est)))
        ax.plot([extrapolate_to], [n_t], marker="*", ms=12, color="C3", mec="k", zorder=4)
        ax.annotate(f"C={extrapolate_to:.2g}: N_opt={n_t:.3g}", xy=(extrapolate_to, n_t), xytext=(-10, 10),
                    textcoords="offset points", ha="right", fontsize=8, color="w")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(c_lo, c_hi)
    ax.set_ylim(n_lo, n_hi)
    ax.set_xlabel("compute C = 6ND (FLOP)")
    ax.set_ylabel("parameters N")
    ax.legend(fontsize=8, loc="upper left")
    return _finish(fig, save)


# ----------------------------------------------------------------------------------------------
# plot_exponents
# ----------------------------------------------------------------------------------------------
def plot_exponents(result, params: Sequence[str] | None = None, *, level: float | None = None, bins: int = 40,
                   axes=None, save=None):
    """Distributions of the exponents: bootstrap histograms, or ArviZ posterior densities.

    Args:
      result: a :class:`~jaxscale.BootstrapResult` (histogram of the converged resamples with the
        point estimate and the equal-tailed interval marked) or a
        :class:`~jaxscale.PosteriorResult` (``arviz.plot_posterior`` with the HDI at ``level``).
      params: parameter names (default: the law's exponents, the parameters with
        ``role="exponent"``, or all parameters when it has none).
      axes: a sequence of axes, one per parameter; save: write the figure here.
    """
    if not result.has_draws:
        raise ValueError("plot_exponents needs draws: pass a BootstrapResult or a PosteriorResult, not a point fit")
    law = _law_result(result)
    level = check_level(result.level if level is None else level)
    point = result.point
    if params is None:
        params = [q.name for q in law.params if q.role == "exponent"] or list(law.param_names)
    params = list(params)
    unknown = [k for k in params if k not in law.param_names]
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for law {law.name!r}; parameters: {list(law.param_names)}")
    if axes is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(3.2 * len(params), 3.0), layout="constrained")
        axes = fig.subplots(1, len(params), squeeze=False)[0]
    else:
        axes = list(np.ravel(axes))
        if len(axes) != len(params):
            raise ValueError(f"axes must hold {len(params)} axes, one per parameter, got {len(axes)}")
        fig = axes[0].figure
    if result.inference_data is not None:
        from . import _arviz

        _arviz.plot_posterior(result.inference_data, params, hdi_prob=level, ax=np.asarray(axes),
                              ref_val={k: point[k] for k in params})
        return _finish(fig, save)
    draws = result.samples()
    ci = result.interval(level=level)
    for ax, k in zip(axes, params):
        j = law.param_names.index(k)
        ax.hist(draws[:, j], bins=bins, color="C0", alpha=0.75)
        ax.axvline(point[k], color="k", lw=1.5, label="estimate")
        ax.axvspan(ci[j, 0], ci[j, 1], color="C1", alpha=0.2, label=f"{level:.0%} interval")
        ax.set_title(f"{k} = {point[k]:.4g} [{ci[j, 0]:.4g}, {ci[j, 1]:.4g}]", fontsize=9)
        ax.set_yticks([])
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{law.name}: {result.status}", fontsize=10)
    return _finish(fig, save)


# ----------------------------------------------------------------------------------------------
# plot_isoflop
# ----------------------------------------------------------------------------------------------
def _akima_curve(n, y, points: int = 80):
    """``(N, L)`` along the Akima interpolant of log L over log N (sizes averaged), for drawing."""
    from ._config import precision
    from ._isoflop import akima_coefficients, akima_evaluate

    ln = np.log(n)
    xs = np.unique(ln)
    ys = np.array([np.mean(np.log(y[ln == v])) for v in xs])
    g = np.linspace(xs[0], xs[-1], points)
    if xs.size < 3:
        return np.exp(g), np.exp(np.interp(g, xs, ys))
    with precision(np.float64):
        coef = akima_coefficients(jnp.asarray(xs), jnp.asarray(ys), xs.size)
        f = np.asarray(akima_evaluate(jnp.asarray(xs), coef, xs.size, jnp.asarray(g)))
    return np.exp(g), np.exp(f)
def plot_isoflop(data, result=None, *, inputs: Mapping | str | None = None, target: str = "loss",
                 compute: str | None = None, ax=None, save=None):
    r"""IsoFLOP curves: loss against model size ``N`` for each compute budget ``C``.

    Columns are named as in :func:`jaxscale.fit` and :func:`jaxscale.fit_isoflop`:
    ``inputs={"N": size column, "C": compute column}`` (or ``"D"``: tokens) and ``target``.
    Points are grouped by the compute column (default ``"C"`` when present, else
    ``C = 6 N D`` rounded to 3 significant digits) and coloured by budget; ``compute=`` is the
    older name of ``inputs["C"]``. With ``result`` (a
    fit of a law of ``N`` and ``D``), each budget's curve :math:`L(N, C / (6N))` is drawn with
    its minimum :math:`N_{opt}(C)` marked (the isoFLOP approach of Hoffmann et al. 2022,
    Approach 2, read off the fitted law). With ``result`` an
    :class:`~jaxscale.IsoflopResult` (:func:`jaxscale.fit_isoflop`), or with no ``result``, the
    per-budget parabolas :math:`L = L_{min} + c_2 (\log N - \log N_{opt})^2` of the isoFLOP
    analysis are drawn with their minima, labelled with the fitted frontier
    :math:`N_{opt} = k_N C^a`; with bootstrap draws each minimum gets the interval of
    :math:`k_N C^a` as a horizontal error bar.
    """
    frame = as_frame(data)
    mapping = parse_mapping(inputs)
    if compute is None:
        compute = mapping.get("C")
    elif "C" in mapping and mapping["C"] != compute:
        raise ValueError(f"compute={compute!r} and inputs['C']={mapping['C']!r} disagree")
    n_col, d_col = mapping.get("N", "N"), mapping.get("D", "D")
    for col in (n_col, target):
        if col not in frame.columns:
            raise ValueError(f"unknown column {col!r}; available columns: {list(map(str, frame.columns))}")
    n = frame[n_col].to_numpy(dtype=float)
    y = frame[target].to_numpy(dtype=float)
    if compute is not None:
        if compute not in frame.columns:
            raise ValueError(f"unknown compute column {compute!r}; available columns: {list(map(str, frame.columns))}")
        c = frame[compute].to_numpy(dtype=float)
    elif "C" in frame.columns:
        c = frame["C"].to_numpy(dtype=float)
    elif d_col in frame.columns:
        raw = 6.0 * n * frame[d_col].to_numpy(dtype=float)
        c = np.array([float(f"{v:.3g}") for v in raw])
    else:
        raise ValueError(f"plot_isoflop needs a compute column ('C' or compute=) or a tokens column {d_col!r}")
    if np.any(~np.isfinite(n)) or np.any(n <= 0) or np.any(~np.isfinite(c)) or np.any(c <= 0):
        raise ValueError("N and C must be finite and > 0 for log axes")
    budgets = np.unique(c)
    fig, ax = _new_axes(ax)
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm

    norm = LogNorm(budgets.min(), budgets.max() if budgets.max() > budgets.min() else budgets.min() * 10)
    cmap = colormaps["plasma"]
    iso = fit = None
    if result is not None and result.law is None:
        from ._isoflop import IsoflopResult

        if not isinstance(result, IsoflopResult):
            raise ValueError(f"plot_isoflop overlays a fit of a law of N and D or an isoFLOP analysis, "
                             f"not {result.describe()}")
        iso = result
    elif result is not None:
        fit = result
        if not _is_nd(fit.law):
            raise ValueError(f"the isoFLOP overlay needs a law of N and D; {fit.law.name!r} has inputs "
                             f"{list(fit.law.inputs)}")
    else:
        try:
            import warnings

            from ._isoflop import fit_isoflop

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # dropped budgets are drawn without a minimum
                iso = fit_isoflop({"N": n, "C": c, "loss": y}, n_resamples=0)
        except (ImportError, ValueError):  # fewer than 2 usable budgets: plain polyfit below
            iso = None
    for b in budgets:
        m = c == b
        col = cmap(norm(b) * 0.9)
        ax.scatter(n[m], y[m], s=14, color=col, zorder=3)
        grid = np.logspace(np.log10(n[m].min() / 1.5), np.log10(n[m].max() * 1.5), 80)
        if fit is not None:
            ax.plot(grid, _predict(fit, {"N": grid, "D": b / (6.0 * grid)}), color=col, lw=1.2)
        elif iso is not None:
            j = int(np.argmin(np.abs(np.log(iso.budgets) - np.log(b))))
            if iso.method == "parabola" and np.isfinite(iso.n_opt[j]):  # L_min + (L''/2) (log N - log N_opt)^2
                vertex = np.log(iso.n_opt[j])
                ax.plot(grid, iso.loss_opt[j] + 0.5 * iso.curvature[j] * (np.log(grid) - vertex) ** 2, color=col,
                        lw=1.0, ls="--")
            elif m.sum() >= 3:  # the Akima interpolant of log loss through the budget's (mean) losses
                ax.plot(*_akima_curve(n[m], y[m]), color=col, lw=1.0, ls="--")
        elif m.sum() >= 3:
            coef = np.polyfit(np.log(n[m]), y[m], 2)  # the classic parabola in log N
            if coef[0] > 0:
                ax.plot(grid, np.polyval(coef, np.log(grid)), color=col, lw=1.0, ls="--")
                ln_opt = -coef[1] / (2 * coef[0])
                ax.plot([np.exp(ln_opt)], [np.polyval(coef, ln_opt)], marker="o", ms=4, color="k", zorder=4)
    if iso is not None:
        xerr = None
        frontier = lambda p: p["k_n"] * jnp.asarray(iso.budgets) ** p["a"]  # noqa: E731
        ci, reason = interval_or_nan(iso, frontier, iso.level, iso.budgets.shape)
        if ci is not None and reason is None:
            lo, hi = ci[..., 0], ci[..., 1]
            xerr = np.stack([np.maximum(iso.n_opt - lo, 0), np.maximum(hi - iso.n_opt, 0)])
        kept = np.asarray(iso.kept, dtype=bool)
        xerr = None if xerr is None else xerr[:, kept]
        ax.errorbar(iso.n_opt[kept], iso.loss_opt[kept], xerr=xerr, color="k", marker="o", ms=4, lw=1, ls="--",
                    capsize=2, label=f"{iso.method} minima; $N_{{opt}} = {iso.k_n:.3g}\\,C^{{{iso.a:.3f}}}$", zorder=4)
        if not kept.all():
            ax.plot([], [], ls="", label=f"{int((~kept).sum())} budget(s) dropped (no bracketed minimum)")
        ax.legend(fontsize=8)
    if fit is not None:
        n_opt, d_opt = fit.estimate(lambda p: jnp.stack(_optimal_nd(fit, p, budgets)))
        ax.plot(n_opt, _predict(fit, {"N": n_opt, "D": d_opt}), color="k", marker="o", ms=4, lw=1, ls="--",
                label="fitted $N_{opt}(C)$", zorder=4)
        ax.legend(fontsize=8)
    ax.set_xscale("log")
    _plain_log_y(ax)
    ax.set_xlabel("parameters N")
    ax.set_ylabel(target)
    from matplotlib.cm import ScalarMappable

    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="compute C (FLOP)")
    return _finish(fig, save)


# ----------------------------------------------------------------------------------------------
# Backtests
# ----------------------------------------------------------------------------------------------
def plot_backtest(result, *, level: float | None = None, save=None, ncols: int = 3):
    """Predicted against actual for every held-out run of a :class:`~jaxscale.BacktestResult`.

    One panel per cutoff: each held-out run at (actual, predicted) with a vertical bar for its
    ``level`` prediction interval (default 0.9, else the widest level scored), coloured by how many
    decades it lies beyond the fitted runs; the diagonal is a perfect prediction. Each panel's
    title gives the cutoff, the share of runs inside the interval and the signed bias; the
    figure title names the kind of interval (``result.band``).
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    levels = tuple(result.levels)
    level = (0.9 if 0.9 in levels else max(levels)) if level is None else float(level)
    if level not in levels:
        raise ValueError(f"level {level} was not scored; the backtest has levels {levels}")
    cuts = list(result.cutoffs.index)
    ncols = max(1, min(int(ncols), len(cuts)))
    nrows = -(-len(cuts) // ncols)
    fig = Figure(figsize=(4.0 * ncols, 3.6 * nrows + 0.4), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    runs = result.runs
    dmax = max(float(runs["decades"].max()), 1e-9)
    cmap = colormaps["viridis"]
    for ax, c in zip(axes, cuts):
        g = runs[runs["cutoff"] == c]
        y, p = g["actual"].to_numpy(), g["prediction"].to_numpy()
        lo, hi = g[f"lo_{level:g}"].to_numpy(), g[f"hi_{level:g}"].to_numpy()
        colors = cmap(g["decades"].to_numpy() / dmax)
        ax.vlines(y, lo, hi, colors=colors, alpha=0.6, lw=1.2)
        ax.scatter(y, p, c=colors, s=14, zorder=3)
        both = np.concatenate([y, p, lo, hi])
        both = both[np.isfinite(both) & (both > 0)]
        if both.size:
            span = np.array([both.min(), both.max()])
            ax.plot(span, span, color="k", lw=0.8, ls="--")
        if both.size and both.max() > 10 * both.min():  # log axes only when the values span a decade
            ax.set_xscale("log")
            ax.set_yscale("log")
        inside = float(np.mean(g[f"in_{level:g}"])) if len(g) else float("nan")
        bias = float(np.mean(g["rel_err"])) if len(g) else float("nan")
        n_train = int(result.cutoffs.loc[c, "n_train"])
        ax.set_title(f"fit {result.along} <= {c:.3g} ({n_train} runs)\n{100 * inside:.0f}% inside, "
                     f"bias {100 * bias:+.2g}%", fontsize=9)
        ax.set_xlabel("actual")
        ax.set_ylabel("predicted")
    for ax in axes[len(cuts):]:
        ax.set_visible(False)
    fig.suptitle(f"{result.law} backtest along {result.along} ({result.method}); colour: decades beyond the fit\n"
                 f"bars: {100 * level:g}% prediction intervals, {result.band}", fontsize=9)
    return _finish(fig, save)
