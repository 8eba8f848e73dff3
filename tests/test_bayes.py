import numpy as np
import pytest

import jaxscale as js
from jaxscale._bayes import HuberDensity, bayes_fit


def _saturating_data(rng, n=40, noise=0.02, E=1.5, A=20.0, alpha=0.45):
    x = np.logspace(1, 6, n)
    y = (E + A * x ** -alpha) * np.exp(noise * rng.standard_normal(n))
    return {"x": x, "loss": y}


def test_huber_density_normalised_and_sampler_matches():
    import jax
    import jax.numpy as jnp

    from jaxscale import precision

    with precision():
        d = HuberDensity(0.0, 0.005, 1e-3)
        grid = jnp.linspace(-0.25, 0.25, 500001)
        mass = float(jnp.trapezoid(jnp.exp(d.log_prob(grid)), grid))
        assert mass == pytest.approx(1.0, rel=1e-4)
        s = np.asarray(d.sample(jax.random.PRNGKey(0), (200000,)))
    # compare the empirical and exact probability of the core |r| <= delta
    sig = 0.005 * 1e-3
    from math import erf, exp, pi, sqrt

    core = sqrt(2 * pi * sig) * erf(1e-3 / sqrt(2 * sig))
    tails = 2 * sig / 1e-3 * exp(-1e-6 / (2 * sig))
    assert np.mean(np.abs(s) <= 1e-3) == pytest.approx(core / (core + tails), abs=0.005)
    # beyond delta the tails are exponential with mean sigma / delta = s: E[|r| - delta | tail] = s
    tail = np.abs(s)[np.abs(s) > 1e-3] - 1e-3
    assert tail.mean() == pytest.approx(0.005, rel=0.02)


def test_recovery_and_user_law_end_to_end(rng):
    """A user-defined law: point fit, posterior, prediction with credible band."""

    @js.law(inputs=("x",), params=(js.Param("E", "positive", grid=(0.5, 1.0, 2.0)),
                                   js.Param("A", "positive", grid=(1.0, 10.0, 100.0)),
                                   js.Param("alpha", "real", grid=(0.2, 0.5, 1.0), prior=js.Prior("halfnormal", (1.0,)))))
    def my_law(p, x):
        return p["E"] + p["A"] * x["x"] ** -p["alpha"]

    data = _saturating_data(rng)
    post = bayes_fit(my_law, data, chains=2, warmup=500, samples=500, progress=False)
    assert max(post.r_hat.values()) <= 1.01
    assert post.n_divergences == 0
    ci = dict(zip(my_law.param_names, post.interval(level=0.95)))
    assert ci["alpha"][0] < 0.45 < ci["alpha"][1]
    assert ci["E"][0] < 1.5 < ci["E"][1]
    pred = js.predict(post, {"x": [1e7, 1e8]})
    assert np.all(pred["lo"] < pred["prediction"]) and np.all(pred["prediction"] < pred["hi"])
    idata = post.idata
    for group in ("posterior", "log_likelihood", "posterior_predictive", "observed_data", "sample_stats"):
        assert hasattr(idata, group), group
    d = post.to_dict()
    assert set(d["r_hat"]) == set(my_law.param_names) and set(d["ess_bulk"]) == set(my_law.param_names)


@pytest.mark.parametrize("likelihood", ["student_t"])  # "huber": test_epoch_posterior
def test_other_likelihoods_sample(rng, likelihood):
    data = _saturating_data(rng, noise=0.01)
    post = bayes_fit("saturating_power_law", data, likelihood=likelihood, chains=2, warmup=150, samples=150,
                     progress=False)
    assert abs(post.median["alpha"] - 0.45) < 0.1
    assert post.n_divergences <= 3


def test_coverage_of_90_percent_intervals():
    """Over 6 simulated data sets the 90% credible interval of alpha covers the truth at a rate
    consistent with 0.9: P(covered <= 3 | n=6, p=0.9) = 1.6%, so we require >= 4. This catches
    intervals that are far too narrow (a 50% interval passes with probability 34%, a 30% one
    with 7%); the precise rate comes from benchmarks/coverage.py (100 data sets, closing note)."""
    rng = np.random.default_rng(2024)
    covered = 0
    for i in range(6):
        data = _saturating_data(rng, n=25, noise=0.03)
        post = bayes_fit("saturating_power_law", data, chains=2, warmup=200, samples=200, seed=i, progress=False)
        lo, hi = post.interval(level=0.9)[2]
        covered += lo <= 0.45 <= hi
    print(f"90% interval coverage of alpha: {covered}/6")
    assert covered >= 4


def test_bad_priors_and_likelihood():
    data = _saturating_data(np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown parameter"):
        bayes_fit("saturating_power_law", data, priors={"zeta": js.Prior("normal", (0, 1))}, progress=False)
    with pytest.raises(ValueError, match="likelihood"):
        bayes_fit("saturating_power_law", data, likelihood="cauchy", progress=False)


@pytest.mark.slow
def test_epoch_posterior(epoch_df, epoch_fit):
    """Issue 4's acceptance check on Epoch's 240 points (Huber density, weakly informative priors):
    r-hat <= 1.01, no divergences, medians of alpha, beta, E within 0.01 of the point fit.

    At issue 4's sizes (4 chains x 1,000 warmup + 1,000 draws): with 500 + 500 the r-hat of A and
    alpha (a pair that trades off, r = 0.999 in the fit's health report) measured 1.011 on jax 0.10,
    over the 1.01 bar by chain length, not by a sampler fault. Acceptance tier (too slow for the unit tier)."""
    post = bayes_fit("chinchilla", epoch_df, likelihood="huber", init=epoch_fit, chains=4, warmup=1000, samples=1000,
                     progress=False)
    assert max(post.r_hat.values()) <= 1.01
    assert post.n_divergences == 0
    for k in ("alpha", "beta", "E"):
        assert abs(post.median[k] - epoch_fit.params[k]) < 0.01, k


def test_grouped_nuts_through_the_cli(rng, tmp_path, capsys):
    """`jaxscale fit --group g --method nuts --predict`: one posterior per group, each started from
    its group's fit (same shapes: one compiled NUTS program), predictions with a group column."""
    import json

    import pandas as pd

    from jaxscale._cli import main

    frames = [pd.DataFrame(_saturating_data(rng, n=30, alpha=a)).assign(g=name) for name, a in (("u", 0.4), ("v", 0.5))]
    p = tmp_path / "lc.csv"
    pd.concat(frames).to_csv(p, index=False)
    out = tmp_path / "n.json"
    rc = main(["fit", str(p), "--law", "saturating_power_law", "--inputs", "x=x", "--group", "g", "--method", "nuts",
               "--chains", "2", "--warmup", "150", "--samples", "100", "--predict", "x=1e7", "--json", str(out),
               "--no-progress"])
    assert rc == 0
    payload = json.loads(out.read_text())
    for name, a in (("u", 0.4), ("v", 0.5)):
        lo, hi = payload["groups"][name]["intervals"]["alpha"]  # plumbing, not coverage: a loose check
        assert lo - 0.05 < a < hi + 0.05 and hi - lo < 0.3 and payload["groups"][name]["method"] == "nuts"
    assert [r["g"] for r in payload["predictions"]] == ["u", "v"]
