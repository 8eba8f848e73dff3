"""Constraints (jaxscale._constraints): fixed, tied and bounded parameters through fit, bootstrap,
NUTS and the command line."""

import warnings

import numpy as np
import pytest

import jaxscale as js
from jaxscale._constraints import parse_constraints

SOLVER = js.get_solver("lm", polish_steps=0)


def _near(fit, law, scale=(0.9, 1.1)):
    """Starts next to a full fit, for the free parameters of ``law`` (4 starts: compile once, fast)."""
    return {k: [fit.params[k] * s for s in scale for _ in (0, 1)] for k in law.param_names}


def test_restrict_reduces_and_expands():
    law = js.restrict("chinchilla", fixed={"E": 1.69}, tied={"beta": "alpha"}, bounds={"alpha": (0.1, 0.9)})
    assert law.param_names == ("A", "B", "alpha")
    assert law is js.restrict("chinchilla", fixed={"E": 1.69}, tied={"beta": "alpha"}, bounds={"alpha": (0.1, 0.9)})
    assert law.params[2].transform == ("bounded", 0.1, 0.9)
    full = law.expand({"A": np.array([400.0, 500.0]), "B": np.array([2e3, 3e3]), "alpha": np.array([0.3, 0.4])})
    assert list(full) == ["E", "A", "B", "alpha", "beta"]
    np.testing.assert_array_equal(full["E"], [1.69, 1.69])
    np.testing.assert_array_equal(full["beta"], full["alpha"])
    p = {"E": 1.69, "A": 400.0, "B": 2e3, "alpha": 0.3, "beta": 0.3}
    x = {"N": np.array([1e8, 1e9]), "D": np.array([1e10, 1e11])}
    with js.precision():
        np.testing.assert_allclose(np.asarray(law.predict(p, x)), np.asarray(js.chinchilla.predict(p, x)), rtol=1e-14)
    assert js.restrict("chinchilla") is js.chinchilla


@pytest.mark.parametrize("kwargs, match", [
    (dict(fixed={"F": 1.0}), "unknown parameter"),
    (dict(fixed={"E": -1.0}), "outside the parameter's domain"),
    (dict(tied={"beta": "gamma"}), "not a parameter"),
    (dict(fixed={"alpha": 0.3}, tied={"beta": "alpha"}), "free parameter"),
    (dict(fixed={"E": 1.0}, tied={"E": "A"}), "both fixed and tied"),
    (dict(bounds={"alpha": (0.9, 0.1)}), "lo < hi"),
    (dict(bounds={"E": (-1.0, 2.0)}), ">= 0"),
    (dict(fixed={"E": 1.0, "A": 1.0, "B": 1.0, "alpha": 0.3}, tied={"beta": "alpha"}), "free parameter"),
])
def test_restrict_rejects_bad_constraints(kwargs, match):
    with pytest.raises(ValueError, match=match):
        js.restrict("chinchilla", **kwargs)


def test_parse_constraints():
    out = parse_constraints(["E=1.69"], ["beta=alpha"], ["alpha=0.1:0.9,beta=0:2"])
    assert out == {"fixed": {"E": 1.69}, "tied": {"beta": "alpha"}, "bounds": {"alpha": (0.1, 0.9), "beta": (0.0, 2.0)}}
    for bad in (dict(fix=["E"]), dict(fix=["E=x"]), dict(bound=["alpha=0.1"])):
        with pytest.raises(ValueError):
            parse_constraints(**bad)


def test_tied_exponent_on_epoch_data_has_one_interval(epoch_fit, epoch_df):
    """Epoch's data with beta tied to alpha: one exponent, with a bootstrap interval."""
    law = js.restrict("chinchilla", tied={"beta": "alpha"})
    fit = js.fit("chinchilla", epoch_df, tied={"beta": "alpha"}, starts=_near(epoch_fit, law), solver=SOLVER,
                 progress=False)
    assert fit.law is law and fit.converged
    assert fit.params["beta"] == fit.params["alpha"]
    assert epoch_fit.objective <= fit.objective  # one parameter fewer: never a better fit
    # the tied exponent lies between the two free ones (0.347 and 0.367 on these data)
    lo, hi = sorted((epoch_fit.params["alpha"], epoch_fit.params["beta"]))
    assert lo - 0.02 < fit.params["alpha"] < hi + 0.02
    assert fit.table().loc["beta", "constraint"] == "= alpha"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", js.BootstrapWarning)
        boot = js.bootstrap(fit, 16, seed=0, progress=False, min_draws=10)
    table = boot.table()
    assert list(table.index) == ["E", "A", "B", "alpha"]
    ci = boot.interval(lambda p: p["beta"])
    np.testing.assert_allclose(ci, table.loc["alpha", ["lo 95%", "hi 95%"]].to_numpy(dtype=float))
    assert fit.table().loc["beta", "constraint"] == "= alpha" and list(fit.table().index)[-1] == "beta"
    assert ci[0] < fit.params["alpha"] < ci[1]


@pytest.fixture(scope="module")
def fixed_e_fit(epoch_fit, epoch_df):
    law = js.restrict("chinchilla", fixed={"E": 1.69})
    # E held far below its optimum: A, B, alpha and beta move a long way; 100 LM steps per resample
    return js.fit("chinchilla", epoch_df, fixed={"E": 1.69}, starts=_near(epoch_fit, law), solver=SOLVER,
                  n_steps=100, progress=False, on_failure="ignore")


def test_fixed_e_with_bootstrap(fixed_e_fit):
    fit = fixed_e_fit
    assert fit.params["E"] == 1.69 and fit.law.param_names == ("A", "B", "alpha", "beta")
    assert fit.to_dict()["constraints"] == {"E": "fixed"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", js.BootstrapWarning)
        boot = js.bootstrap(fit, 16, seed=0, progress=False, min_draws=10)
    assert np.all(boot.samples(lambda p: p["E"]) == 1.69)
    assert np.all(np.isfinite(boot.interval()))


def test_constrained_fit_saves_and_loads(fixed_e_fit, tmp_path):
    """A constrained fit reports every parameter of the base law; the file round-trips with the
    reduced law passed back (it is not registered by name) and predicts the same."""
    path = tmp_path / "fixed_e.json"
    fixed_e_fit.save(path)
    with pytest.raises(ValueError, match="not registered"):
        js.load(path)
    back = js.load(path, law=fixed_e_fit.law)
    assert back.params == fixed_e_fit.params and back.params["E"] == 1.69
    x = {"N": np.array([1e9, 1e11]), "D": np.array([2e10, 2e12])}
    np.testing.assert_array_equal(back.predict(x), fixed_e_fit.predict(x))


@pytest.mark.slow  # one NUTS compile of the reduced law (~40 s on 2 cores)
def test_fixed_e_with_nuts(fixed_e_fit, epoch_df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", js.SamplingWarning)
        post = js.bayes_fit("chinchilla", epoch_df, fixed={"E": 1.69}, init=fixed_e_fit, likelihood="huber",
                            chains=1, warmup=60, samples=40, seed=0, progress=False, min_draws=20)
    assert set(post.law.param_names) == {"A", "B", "alpha", "beta"}
    assert "E" not in post.idata.posterior.data_vars and np.all(post.draws["E"] == 1.69)  # filled in, not sampled
    assert np.all(post.samples(lambda p: p["E"]) == 1.69)
    assert post.interval().shape == (4, 2)
