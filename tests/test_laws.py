import jax.numpy as jnp
import numpy as np
import pytest

import jaxscale as js
from jaxscale import precision

TRUE = {
    "power_law": {"a": 12.0, "alpha": 0.3},
    "saturating_power_law": {"E": 1.7, "A": 40.0, "alpha": 0.35},
    "chinchilla": js.EPOCH_PARAMS,
    "kaplan": {"Nc": 6.4e13, "Dc": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103},
}


def _design(law, rng, n=60):
    if law.inputs == ("x",):
        return {"x": np.logspace(1, 7, n)}
    return {"N": 10 ** rng.uniform(7, 11, n), "D": 10 ** rng.uniform(8.5, 12, n)}


def _eval(law, params, x):
    with precision():
        return np.asarray(law.predict({k: jnp.asarray(v) for k, v in params.items()},
                                      {k: jnp.asarray(v) for k, v in x.items()}))


@pytest.mark.parametrize("name", sorted(TRUE))
def test_log_fn_matches_log_of_fn(name, rng):
    law = js.get_law(name)
    x = _design(law, rng, 30)
    with precision():
        p = {k: jnp.asarray(v) for k, v in TRUE[name].items()}
        xx = {k: jnp.asarray(v) for k, v in x.items()}
        np.testing.assert_allclose(law.log_predict(p, xx), np.log(law.predict(p, xx)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(TRUE))
def test_recovery_from_noiseless_data(name, rng):
    """Noiseless simulated data are fitted back: parameters within 1e-4 relative.

    1e-4 leaves room for the Kaplan law, whose critical sizes are weakly identified on a
    finite design; the others recover to ~1e-8."""
    law = js.get_law(name)
    x = _design(law, rng)
    y = _eval(law, TRUE[name], x)
    res = js.fit(law, {**x, "loss": y}, loss="squared_log", n_steps=60, progress=False)
    assert res.converged
    for k, v in TRUE[name].items():
        assert res.params[k] == pytest.approx(v, rel=1e-4), k


@pytest.mark.parametrize("name", ["saturating_power_law", "chinchilla"])
def test_recovery_with_noise_huber(name, rng):
    """1% multiplicative noise, Huber(1e-3): exponents within 0.03 of the truth (about 2-3 SE)."""
    law = js.get_law(name)
    x = _design(law, rng, 200)
    y = _eval(law, TRUE[name], x) * np.exp(0.01 * rng.standard_normal(200))
    res = js.fit(law, {**x, "loss": y}, progress=False)
    assert res.converged
    for k in ("alpha", "beta"):
        if k in TRUE[name]:
            assert abs(res.params[k] - TRUE[name][k]) < 0.03, k


def test_chinchilla_log_space_precision_at_large_scale():
    """At N=1e12, D=1e13 the log-space form agrees with a float64 evaluation in long double."""
    law = js.chinchilla
    p = js.EPOCH_PARAMS
    N, D = np.array([1e12, 5e12]), np.array([1e13, 2e13])
    with precision():
        lp = np.asarray(law.log_predict({k: jnp.asarray(v) for k, v in p.items()},
                                        {"N": jnp.asarray(N), "D": jnp.asarray(D)}))
    ref = np.log(np.longdouble(p["E"]) + np.longdouble(p["A"]) / np.longdouble(N) ** np.longdouble(p["alpha"])
                 + np.longdouble(p["B"]) / np.longdouble(D) ** np.longdouble(p["beta"]))
    np.testing.assert_allclose(lp, ref.astype(float), rtol=1e-14)


def test_param_transforms_round_trip():
    for p in [js.Param("a", "real"), js.Param("b", "positive"), js.Param("c", (0.0, 2.0))]:
        theta = np.asarray(p.grid)
        np.testing.assert_allclose(p.constrain(p.unconstrain(theta)), theta, rtol=1e-12)


def test_param_spec_errors():
    with pytest.raises(ValueError, match="transform"):
        js.Param("a", "sideways")
    with pytest.raises(ValueError, match="outside its domain"):
        js.Param("a", "positive", grid=(0.0, 1.0))
    with pytest.raises(ValueError, match="identifier"):
        js.Param("not a name")
    with pytest.raises(ValueError, match="duplicate"):
        js.Law("x", lambda p, x: p["a"], (js.Param("a"), js.Param("a")), ("x",))
    with pytest.raises(ValueError, match="unknown law"):
        js.get_law("no_such_law")


def test_chinchilla_default_grid_is_epochs():
    starts = js.chinchilla.default_starts()
    assert starts.shape == (4500, 5)
    u = dict(zip(js.chinchilla.param_names, starts.T))
    np.testing.assert_allclose(np.unique(u["A"]), [0, 5, 10, 15, 20, 25], atol=1e-12)  # log A
    np.testing.assert_allclose(np.unique(u["E"]), [-1, -0.5, 0, 0.5, 1], atol=1e-12)  # log E
    np.testing.assert_allclose(np.unique(u["alpha"]), [0, 0.5, 1, 1.5, 2])


def test_user_defined_law_in_a_few_lines(rng):
    @js.law(inputs=("C",), params=(js.Param("E", "positive", grid=(0.5, 2.0)),
                                   js.Param("k", "positive", grid=(1.0, 100.0)),
                                   js.Param("g", (0.0, 1.0), grid=(0.2, 0.5))))
    def compute_law(p, x):
        """L(C) = E + k C^-g."""
        return p["E"] + p["k"] * x["C"] ** -p["g"]

    C = np.logspace(15, 22, 40)
    y = 1.9 + 3000.0 * C ** -0.21
    res = js.fit(compute_law, {"C": C, "loss": y}, loss="squared_log", n_steps=80, progress=False)
    assert res.params["g"] == pytest.approx(0.21, rel=1e-5)
    assert res.params["E"] == pytest.approx(1.9, rel=1e-5)
    np.testing.assert_allclose(res.predict({"C": C}), y, rtol=1e-6)


def test_every_builtin_parameter_declares_its_role():
    """Plots and summaries read roles, never parameter names: every built-in law sets them."""
    for name, law in js.list_laws().items():
        for p in law.params:
            assert p.role in js.laws.ROLES, (name, p.name, p.role)
    assert [p.name for p in js.chinchilla.params if p.role == "exponent"] == ["alpha", "beta"]
    assert js.Param("a").role is None
    with pytest.raises(ValueError, match="role"):
        js.Param("a", role="slope")


OVERTRAINING = {"E": 1.8366, "A": 166.21, "B": 300.0, "eta": 0.27285}


@pytest.mark.parametrize("name, params", [("chinchilla", js.EPOCH_PARAMS), ("kaplan", TRUE["kaplan"]),
                                          ("overtraining", OVERTRAINING)])
def test_closed_form_optimal_allocation_matches_numeric(name, params):
    """A law's closed-form ``optimal_allocation`` (C = 6ND) agrees with the numeric minimiser (the
    fallback, forced by passing the same cost as ``tokens_for``) to 1e-7 relative: both are exact
    optima, the numeric one after a 512-point log grid and 12 Newton steps in float64."""
    law = js.get_law(name)
    cs = np.array([1e20, 1e24])
    assert law.optimal_allocation is not None
    with precision():
        p = {k: jnp.asarray(v) for k, v in params.items()}
        closed = [np.asarray(v) for v in law.optimal_allocation(p, jnp.asarray(cs))]
        for j, c in enumerate(cs):
            n, d = (float(v) for v in js.laws.optimal_allocation(law, p, c, tokens_for=lambda n, c: c / (6.0 * n)))
            assert n == pytest.approx(closed[0][j], rel=1e-7) and d == pytest.approx(closed[1][j], rel=1e-7)
            assert 6.0 * n * d == pytest.approx(c, rel=1e-12)
    assert js.get_law("kumar_precision").optimal_allocation is None


def test_law_has_predict_not_call():
    """One way to evaluate a law: ``predict`` (``__call__`` was a duplicate), in float64 under
    ``js.precision()``."""
    assert not callable(js.chinchilla)
    with precision():
        y = js.chinchilla.predict({k: jnp.asarray(v) for k, v in js.EPOCH_PARAMS.items()},
                                  {"N": jnp.asarray([1e9]), "D": jnp.asarray([2e10])})
    assert y.dtype == jnp.float64
