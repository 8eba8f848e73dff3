"""Minima on a bound of a parameter's domain (``E -> 0``): certified by the KKT conditions
(:func:`jaxscale._solvers.diagnose`), never when the point is not a constrained minimum."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import jaxscale as js
from jaxscale._engine import solve_batch
from jaxscale._solvers import Problem, diagnose
from jaxscale._status import bound_limits

LAW = js.get_law("saturating_power_law")
X = np.geomspace(10.0, 1e4, 12)
FIXED = js.restrict(LAW, fixed={"E": 1e-300})  # one law object: compiled once for both tests


def _data(E, seed=0):
    """y = E + 5 x^-0.3 with 0.5% multiplicative noise."""
    y = (E + 5.0 * X ** -0.3) * np.exp(np.random.default_rng(seed).normal(0.0, 0.005, X.shape))
    return {"x": X, "loss": y}


def _diagnose(fit, u):
    """diagnose() of the fit's own problem at unconstrained point ``u``."""
    obj = fit.loss
    with js.precision():
        x = {"x": jnp.asarray(fit.data.inputs["x"])}
        problem = Problem(lambda v: obj.model_output(LAW, LAW.constrain(v), x), jnp.asarray(obj.target(fit.data.y)),
                          jnp.asarray(fit.data.weights), obj)
        lower, upper = bound_limits(LAW)
        return diagnose(problem, jnp.asarray(u, dtype=jnp.float64), fit.xtol, lower, upper)


@pytest.fixture(scope="module")
def bound_fit():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = js.fit(LAW, _data(0.0), progress=False)
    return fit, [w.category for w in caught]


def test_true_floor_zero_is_certified_at_bound(bound_fit):
    # true E = 0: the optimum is on E's lower bound; the fit says converged, names E, and keeps the
    # bound warning (and only that one)
    fit, categories = bound_fit
    assert fit.at_bound == ("E",)
    assert fit.converged
    assert js.BoundWarning in categories and js.ConvergenceWarning not in categories
    assert fit.status.problems == ("at bound: E",)
    # the free parameters are where the fit with E held at 0 puts them (the constrained optimum)
    fixed = js.fit(FIXED, _data(0.0), progress=False, on_failure="ignore")
    assert fixed.converged
    np.testing.assert_allclose([fit.params["A"], fit.params["alpha"]], [fixed.params["A"], fixed.params["alpha"]],
                               rtol=1e-6)


def test_bound_point_pulled_inward_is_not_certified():
    # true E = 0.3: E on its bound with A and alpha at their best values for E = 0 is not a
    # minimum (the objective falls as E rises): the KKT test must refuse it
    data = _data(0.3)
    fixed = js.fit(FIXED, data, progress=False, on_failure="ignore")
    free = js.fit(LAW, data, progress=False, on_failure="ignore")
    assert free.converged and free.at_bound == () and free.objective < fixed.objective
    u = LAW.unconstrain({"E": 1e-30, "A": fixed.params["A"], "alpha": fixed.params["alpha"]})
    d = _diagnose(free, u)
    assert not bool(d.converged)


def test_near_but_not_on_bound_is_not_certified(bound_fit):
    # E = 1e-4 is above the bound threshold and the objective still falls towards E = 0: not a minimum
    fit, _ = bound_fit
    u = np.array(fit.u)
    assert u[0] < bound_limits(LAW)[0][0]
    u[0] = np.log(1e-4)
    assert not bool(_diagnose(fit, u).converged)
    assert bool(_diagnose(fit, fit.u).converged)  # the fit's own point is


def test_upper_bound_of_a_bounded_parameter_is_certified():
    # a floor bounded to (0, 1) under data whose floor is 1.2: the optimum is on the upper bound
    law = js.law(inputs=("x",), params=(js.Param("q", (0.0, 1.0)), js.Param("a", "positive", grid=(1.0, 10.0)),
                                        js.Param("b", "real", grid=(0.2, 0.5))))(
        lambda p, x: p["q"] + p["a"] * x["x"] ** -p["b"])
    y = (1.2 + 5.0 * X ** -0.3) * np.exp(np.random.default_rng(2).normal(0.0, 0.005, X.shape))
    fit = js.fit(law, {"x": X, "loss": y}, progress=False, on_failure="ignore")
    assert fit.at_bound == ("q",) and fit.params["q"] > 1 - 1e-6
    assert fit.converged


def test_bound_certificate_batched_equals_one_at_a_time(bound_fit):
    fit, _ = bound_fit
    obj, ds = fit.loss, fit.data
    starts = np.array([fit.u, fit.u + np.array([3.0, 0.1, 0.05]), fit.u + np.array([10.0, -0.2, 0.0])])
    y = obj.target(ds.y)
    one = [solve_batch(LAW, obj, fit.solver, s[None], ds.inputs, y, ds.weights, n_steps=fit.n_steps, xtol=fit.xtol)
           for s in starts]
    batch = solve_batch(LAW, obj, fit.solver, starts, ds.inputs, y, ds.weights, n_steps=fit.n_steps, xtol=fit.xtol)
    np.testing.assert_array_equal(batch.converged, np.concatenate([r.converged for r in one]))
    np.testing.assert_allclose(batch.objective, np.concatenate([r.objective for r in one]), rtol=1e-12)
    assert batch.converged[0]


# ----------------------------------------------------------------------------------------------
# Bootstrap: continuation rounds, and resamples converged at a bound counted as valid draws
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def weak_floor():
    """A faint floor (E = 0.02 under 2% noise): some resamples put E on its bound, and one needs
    continuation rounds to get there."""
    data = {"x": X, "loss": (0.02 + 5.0 * X ** -0.3) * np.exp(np.random.default_rng(1).normal(0.0, 0.02, X.shape))}
    return data, js.fit(LAW, data, progress=False, on_failure="ignore")


def test_bootstrap_resamples_fitted_as_carefully_as_fit(weak_floor):
    # every resample's objective is no worse than js.fit on the same counts (to 1e-6 relative: the
    # xtol-level scatter of two converged solves; a resample stopped early was 4e-4 worse)
    from jaxscale._bootstrap import resample_weights

    data, fit = weak_floor
    counts = resample_weights(fit.data.n, 16, 0)
    ref = np.array([js.fit(LAW, data, weights=w, progress=False, on_failure="ignore").objective for w in counts])
    boot = js.bootstrap(fit, 16, seed=0, progress=False, on_failure="ignore")
    assert np.all(boot.objective <= ref * (1 + 1e-6))
    assert boot.rounds.shape == (16,) and boot.rounds.max() >= 1
    # without continuation that resample is left behind: the property above is not vacuous
    none = js.bootstrap(fit, 16, seed=0, progress=False, on_failure="ignore", max_rounds=0)
    assert np.max((none.objective - ref) / ref) > 1e-6 and not none.rounds.any()
    assert boot.n_converged > none.n_converged


def test_bootstrap_counts_resamples_at_bound(weak_floor):
    _, fit = weak_floor
    boot = js.bootstrap(fit, 16, seed=0, progress=False, on_failure="ignore")
    at_e = boot.valid & (boot.draws["E"] < np.exp(bound_limits(LAW)[0][0]))
    assert boot.n_at_bound == at_e.sum() >= 1
    n_interior = boot.n_converged - boot.n_at_bound
    assert f"{n_interior} converged, {boot.n_at_bound} converged at a bound (E)" in repr(boot)
    assert f"resamples converged at a bound: E {boot.n_at_bound}" in boot.status.problems
    d = boot.to_dict(level=0.5)
    assert d["n_resamples_at_bound"] == boot.n_at_bound and d["resamples_at_bound"] == {"E": boot.n_at_bound}
