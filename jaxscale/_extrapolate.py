"""Uncertainty-aware extrapolation: predictions and compute-optimal allocations with intervals.

Every function takes any result of the results protocol (:mod:`jaxscale._results`): a point fit
(no interval), a bootstrap, a posterior or an isoFLOP analysis. They use only the protocol:
``result.estimate(fn)`` for the point value and ``result.samples(fn)`` / ``result.interval(fn)``
(through :func:`~jaxscale._results.interval_or_nan`) for the interval, where ``fn`` is written
for ONE parameter set, plus the result's capabilities ``inputs`` / ``predict_fn`` (prediction),
``optimal_allocation`` (compute-optimal allocation) and ``observation_draws`` /
``observation_band`` (a new run's scatter).
"""

from __future__ import annotations

from typing import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ._config import precision
from ._results import check_level, interval_or_nan, per_part, quantile_interval, warn_no_interval

__all__ = ["predict", "compute_optimal", "predict_chain", "residual_scale", "residual_noise", "likelihood_noise",
           "observation_draws", "predictive_draws", "as_inputs", "KINDS"]

#: What a prediction interval covers: the law's mean curve, or a new observation (a new run).
KINDS = ("mean", "observation")


def as_inputs(result, inputs: Mapping) -> dict:
    """``inputs`` checked against ``result.inputs`` and broadcast to one shape (arrays, >= 1-d)."""
    missing = [k for k in result.inputs if k not in inputs]
    if missing:
        raise ValueError(f"missing input(s) {missing} for {result.describe()}")
    xs = {k: np.atleast_1d(np.asarray(inputs[k], dtype=float)) for k in result.inputs}
    try:
        shape = np.broadcast_shapes(*(v.shape for v in xs.values()))
    except ValueError:
        raise ValueError(f"inputs have mismatched shapes: { {k: v.shape for k, v in xs.items()} }") from None
    for k in result.positive_inputs:
        if np.any(~np.isfinite(xs[k])) or np.any(xs[k] <= 0):
            raise ValueError(f"input {k} must be finite and > 0")
    return {k: np.broadcast_to(v, shape) for k, v in xs.items()}


def _mean_fn(result, xs):
    def fn(p):  # one parameter set
        return result.predict_fn(p, {k: jnp.asarray(v) for k, v in xs.items()})

    return fn


# ----------------------------------------------------------------------------------------------
# Run-to-run scatter (prediction intervals for a new observation)
# ----------------------------------------------------------------------------------------------
def residual_scale(fit) -> tuple[float, str]:
    """The run-to-run scatter of a point fit in its objective's space, and how it was measured.

    Residuals ``r_i`` (``log y_i - log f_i`` for log objectives, ``y_i - f_i`` otherwise) of the
    points with positive weight. Huber fits: the robust ``1.4826 * MAD(r)`` (Huber's loss
    ignores the size of outliers, so their residuals must not set the scale). Squared fits:
    ``sqrt(sum w r^2 / (sum w - P))`` with ``P`` parameters (the usual unbiased estimate).
    """
    keep = fit.data.weights > 0
    with precision(fit.dtype):
        x = {k: jnp.asarray(v) for k, v in fit.data.inputs.items()}
        p = {k: jnp.asarray(v) for k, v in fit.params.items()}
        out = np.asarray(fit.loss.model_output(fit.law, p, x))
    r = (fit.loss.target(fit.data.y) - out)[keep]
    if fit.loss.kind == "huber":
        scale = 1.4826 * float(np.median(np.abs(r - np.median(r))))
        how = "1.4826*MAD of residuals"
    else:
        w = fit.data.weights[keep]
        dof = max(float(w.sum()) - fit.law.n_params, 1.0)
        scale = float(np.sqrt(np.sum(w * r * r) / dof))
        how = "rms of residuals (dof-corrected)"
    space = "log" if fit.loss.space == "log" else "linear"
    return scale, f"{how}, {space} space"


def _add_noise(mean, noise, space):
    return mean * np.exp(noise) if space == "log" else mean + noise


def residual_noise(fit, mean_draws: np.ndarray, rng) -> np.ndarray:
    """Draws of a new observation: Gaussian noise with the point fit's residual scale
    (:func:`residual_scale`; robust for Huber fits), multiplicative for log objectives."""
    scale, _ = residual_scale(fit)
    return _add_noise(mean_draws, scale * rng.standard_normal(mean_draws.shape), fit.loss.space)


def residual_band(fit, est: np.ndarray, level: float):
    """Observation band of a point fit from the residual scale alone (no parameter uncertainty)."""
    from statistics import NormalDist

    scale, _ = residual_scale(fit)
    z = NormalDist().inv_cdf((1 + level) / 2)
    return _add_noise(est, -z * scale, fit.loss.space), _add_noise(est, z * scale, fit.loss.space)


def likelihood_noise(likelihood: str, draws: Mapping, delta: float, mean_draws: np.ndarray, rng) -> np.ndarray:
    """Draws of a new observation from a posterior: the likelihood's noise with each draw's
    ``sigma`` (and ``nu`` for Student-t) on log values; ``draws`` are the valid posterior draws."""
    shape = mean_draws.shape
    extra = (1,) * (len(shape) - 1)
    take = np.arange(shape[0]) % np.shape(draws["sigma"])[0]  # draws reused cyclically
    sig = np.asarray(draws["sigma"], dtype=float)[take].reshape((-1,) + extra)
    if likelihood == "gaussian":
        noise = sig * rng.standard_normal(shape)
    elif likelihood == "student_t":
        nu = np.asarray(draws["nu"], dtype=float)[take].reshape((-1,) + extra)
        noise = sig * rng.standard_t(np.broadcast_to(nu, shape))
    else:  # huber density: truncated-normal core, exponential tails (see HuberDensity)
        noise = _huber_noise(rng, sig, delta, shape)
    return mean_draws * np.exp(noise)


def _huber_noise(rng, s, delta, shape):
    import math
    from statistics import NormalDist

    sig = np.broadcast_to(s * delta, shape)
    sd = np.sqrt(sig)
    erf = np.vectorize(math.erf)
    core = np.sqrt(2 * np.pi * sig) * erf(delta / np.sqrt(2 * sig))
    tails = 2 * sig / delta * np.exp(-delta ** 2 / (2 * sig))
    in_core = rng.uniform(size=shape) < core / (core + tails)
    nd = NormalDist()
    lo = np.vectorize(nd.cdf)(-delta / sd)
    u = lo + (1 - 2 * lo) * rng.uniform(size=shape)
    r_core = sd * np.vectorize(nd.inv_cdf)(np.clip(u, 1e-300, 1 - 1e-16))
    r_tail = delta + rng.exponential(size=shape) * sig / delta
    sign = np.where(rng.uniform(size=shape) < 0.5, -1.0, 1.0)
    return np.where(in_core, r_core, sign * r_tail)


def observation_draws(result, mean_draws: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Turn draws of the law's mean ``(R, ...)`` into draws of a new observation.

    Each draw gets its own noise (``result.observation_draws``), added in the space where the fit
    measured its residuals: a posterior (:func:`~jaxscale.bayes_fit`) uses its likelihood with
    that draw's ``sigma`` (:func:`likelihood_noise`); bootstrap draws use the point fit's residual
    scale (:func:`residual_noise`).
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    return result.observation_draws(np.asarray(mean_draws, dtype=float), rng)


def predictive_draws(result, inputs: Mapping, *, kind: str = "observation", seed: int = 0):
    """Point prediction and draws of the mean or of a new observation at ``inputs``.

    Returns ``(prediction (n,), draws (R, n) or None, label)``. A point fit has no draws: ``None``
    (use :func:`residual_scale` for an observation band). ``label`` names what the draws are.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    xs = as_inputs(result, inputs)
    fn = _mean_fn(result, xs)
    est = result.estimate(fn).reshape(-1)
    if not result.has_draws:
        return est, None, "point fit (no draws)"
    draws = result.samples(fn).reshape(-1, est.shape[0])
    if draws.shape[0] < 2:
        return est, None, "no usable draws (point fit only)"
    if kind == "mean":
        return est, draws, "mean (parameter uncertainty)"
    return est, observation_draws(result, draws, seed=seed), "observation (parameters + run-to-run scatter)"


# ----------------------------------------------------------------------------------------------
# predict, compute_optimal, predict_chain
# ----------------------------------------------------------------------------------------------
def predict(result, inputs: Mapping, level: float | None = None, *, kind: str = "mean", seed: int = 0) -> pd.DataFrame:
    """The result's prediction at ``inputs`` with an equal-tailed interval (per group, with a group
    column first, for a grouped result).

    ``kind="mean"`` (default): a confidence (credible) interval for the law's curve, from the
    draws of the parameters. ``kind="observation"``: a prediction interval for a new run, which
    adds the run-to-run scatter to every draw (:func:`observation_draws`: the likelihood's noise
    for posteriors, the fitted residual scale for bootstrap draws, robust for Huber fits). A point
    fit has no interval for ``"mean"``; for ``"observation"`` its band comes from the residual
    scale alone (no parameter uncertainty). ``seed`` fixes the noise draws.

    Returns a DataFrame with the inputs, ``prediction`` and, when there is an interval, ``lo`` and
    ``hi`` at ``level`` (default: the result's level) and ``band``, which names the kind of
    interval (also in ``DataFrame.attrs["band"]``). With fewer valid draws than the minimum
    (:func:`jaxscale._results.min_valid_draws`), ``lo``/``hi`` are NaN and an ``IntervalWarning``
    names the counts.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return per_part(result, lambda r: _predict_one(r, inputs, level, kind, seed))


def _predict_one(result, inputs, level, kind, seed) -> pd.DataFrame:
    level = check_level(result.level if level is None else level)
    xs = as_inputs(result, inputs)
    out = pd.DataFrame({k: v.ravel() for k, v in xs.items()})
    if kind == "mean":
        fn = _mean_fn(result, xs)
        est = result.estimate(fn)
        out["prediction"] = est.ravel()
        ci, _ = interval_or_nan(result, fn, level, est.shape)
        if ci is None:
            return out
        lo, hi, band = ci[..., 0].ravel(), ci[..., 1].ravel(), f"mean {100 * level:g}%"
    elif not result.has_draws:
        est = result.estimate(_mean_fn(result, xs)).ravel()
        out["prediction"] = est
        lo, hi = result.observation_band(est, level)
        band = f"observation {100 * level:g}% (residual scale only)"
    else:
        est, draws, _ = predictive_draws(result, xs, kind=kind, seed=seed)
        out["prediction"] = est
        band = f"observation {100 * level:g}%"
        reason = result.interval_reason(level)
        if reason is None:
            ci = quantile_interval(draws, level, min_draws=result.min_draws_at(level))
            lo, hi = ci[..., 0], ci[..., 1]
        else:
            warn_no_interval(reason)
            lo = hi = np.full(est.shape, np.nan)
    out["lo"], out["hi"], out["band"] = lo, hi, band
    out.attrs["band"] = band
    return out


def compute_optimal(result, compute, *, level: float | None = None, tokens_for: Callable | None = None) -> pd.DataFrame:
    """Compute-optimal ``N_opt(C)`` and ``D_opt(C)`` with intervals from the draws.

    Uses ``result.optimal_allocation``: for law results the law's closed form
    (``law.optimal_allocation``, e.g. Chinchilla's) with the default cost ``C = 6 N D``; for other
    laws of ``N`` and ``D``, or a user cost given as ``tokens_for(N, C) -> D``, the law minimised
    numerically along the iso-compute curve; for an isoFLOP analysis its fitted frontier. With
    fewer valid draws than the minimum, the ``_lo``/``_hi`` columns are NaN and an
    ``IntervalWarning`` names the counts. A grouped result gives one row per group and budget.
    """
    return per_part(result, lambda r: _optimal_one(r, compute, level, tokens_for))


def _optimal_one(result, compute, level, tokens_for) -> pd.DataFrame:
    level = check_level(result.level if level is None else level)
    cs = np.atleast_1d(np.asarray(compute, dtype=float)).ravel()
    if np.any(~np.isfinite(cs)) or np.any(cs <= 0):
        raise ValueError("compute must be finite and > 0")
    result.check_allocation(tokens_for=tokens_for)

    def fn(p):  # one parameter set -> (G, 2)
        n, d = jax.vmap(lambda c: result.optimal_allocation(p, c, tokens_for=tokens_for))(jnp.asarray(cs))
        return jnp.stack([n, d], axis=-1)

    est = result.estimate(fn)
    ci, _ = interval_or_nan(result, fn, level, est.shape)
    out = pd.DataFrame({"C": cs})
    for j, name in enumerate(("N_opt", "D_opt")):
        out[name] = est[:, j]
        if ci is not None:
            out[f"{name}_lo"], out[f"{name}_hi"] = ci[:, j, 0], ci[:, j, 1]
    return out


def predict_chain(loss_fit, error_fit, inputs: Mapping, level: float | None = None, *,
                  link_input: str | None = None, kind: str = "mean", seed: int = 0) -> pd.DataFrame:
    """Chain two fitted laws, e.g. compute -> loss -> downstream error, with intervals carried through.

    ``loss_fit`` predicts an intermediate quantity (the loss) from ``inputs``; ``error_fit`` is a
    law of one input (``link_input``, default its only input) that maps that quantity to the final
    one (Gadre et al. 2024: ``Err = eps - k exp(-gamma L)`` of the predicted C4 loss). Either may
    be a point fit or a result with draws (``BootstrapResult``, ``PosteriorResult``). Draw ``r`` of
    the loss law gives a predicted loss ``L_r``; it is passed through draw ``r`` of the error law
    (draws are paired in order; when the counts differ, the shorter set is reused cyclically; a
    point fit counts as one draw), so the interval of the error reflects both stages.

    Returns a DataFrame with the inputs, ``loss`` and ``error`` (the point fits chained) and, for
    each stage that has draws upstream, ``loss_lo``/``loss_hi`` and ``error_lo``/``error_hi`` at
    ``level`` (default: the level of the first result with draws). With fewer valid draws than
    the minimum, those columns are NaN and an ``IntervalWarning`` names the counts.

    ``kind="observation"`` gives prediction intervals for a new run: each stage's draws get that
    stage's run-to-run scatter (:func:`observation_draws`) before they are passed on, so the
    error band holds the loss scatter propagated through the link plus the link's own scatter.
    A stage given as a point fit adds no scatter of its own there. ``DataFrame.attrs["band"]``
    names the kind.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if link_input is None:
        if len(error_fit.inputs) != 1:
            raise ValueError(f"{error_fit.describe()} has inputs {list(error_fit.inputs)}; pass link_input=")
        link_input = error_fit.inputs[0]
    elif link_input not in error_fit.inputs or len(error_fit.inputs) != 1:
        raise ValueError(f"link_input must be the single input of {error_fit.describe()}: {list(error_fit.inputs)}")
    xs = as_inputs(loss_fit, inputs)
    with_draws = [r for r in (loss_fit, error_fit) if r.has_draws]
    level = check_level((with_draws[0] if with_draws else loss_fit).level if level is None else level)
    loss_fn = _mean_fn(loss_fit, xs)

    def err_fn(p, lv):
        return error_fit.predict_fn(p, {link_input: lv})

    loss = loss_fit.estimate(loss_fn)
    with error_fit.precision():
        err = np.asarray(jax.jit(err_fn)({k: jnp.asarray(v) for k, v in error_fit.point.items()}, jnp.asarray(loss)))
    out = pd.DataFrame({k: v.ravel() for k, v in xs.items()})
    out["loss"], out["error"] = loss.ravel(), err.ravel()
    if not with_draws:
        return out
    need = max(r.min_draws_at(level) for r in with_draws)
    counts = {r.describe(): r.status.n_valid for r in with_draws}
    if min(counts.values()) < need:
        warn_no_interval(f"too few valid draws ({counts}; {need} needed for a {100 * level:g}% interval)")
        if loss_fit.has_draws:
            out["loss_lo"] = out["loss_hi"] = np.nan
        out["error_lo"] = out["error_hi"] = np.nan
        return out
    ld = loss_fit.samples(loss_fn) if loss_fit.has_draws else loss[None]
    if kind == "observation" and loss_fit.has_draws:
        ld = observation_draws(loss_fit, ld, seed=seed)
    ep = error_fit.valid_draws() if error_fit.has_draws else {k: np.array([v]) for k, v in error_fit.point.items()}
    r_err = next(iter(ep.values())).shape[0]
    r = max(ld.shape[0], r_err)
    ld = ld[np.arange(r) % ld.shape[0]]
    ep = {k: np.asarray(v)[np.arange(r) % r_err] for k, v in ep.items()}
    with error_fit.precision():
        err_draws = np.asarray(jax.jit(jax.vmap(err_fn))({k: jnp.asarray(v) for k, v in ep.items()}, jnp.asarray(ld)))
    if kind == "observation" and error_fit.has_draws:
        err_draws = observation_draws(error_fit, err_draws, seed=seed + 1)
    out.attrs["band"] = f"{kind} {100 * level:g}%"
    if loss_fit.has_draws:
        ci = quantile_interval(ld, level, min_draws=need)
        out["loss_lo"], out["loss_hi"] = ci[..., 0].ravel(), ci[..., 1].ravel()
    ci = quantile_interval(err_draws, level, min_draws=need)
    out["error_lo"], out["error_hi"] = ci[..., 0].ravel(), ci[..., 1].ravel()
    return out
