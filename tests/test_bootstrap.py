import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import jaxscale as js
from jaxscale._bootstrap import basin_starts, resample_weights
from jaxscale._engine import solve_batch


@pytest.fixture(scope="module")
def epoch_boot(epoch_fit):
    return js.bootstrap(epoch_fit, 300, seed=42, progress=False)


def test_epoch_intervals_agree_with_published(epoch_boot, epoch_reference):
    """300 i.i.d. resamples: 95% percentile intervals within 0.03 of Epoch's 4,000-resample ones.

    Tolerance: the Monte Carlo error of a 2.5% quantile from 300 draws is about
    sqrt(0.025*0.975/300)/phi(1.96) ~ 0.15 SE, i.e. ~0.003 for alpha (SE 0.015) and ~0.004 for
    E (SE 0.026); 0.03 (about 7 such errors, plus Epoch's own sampling error) catches wrong
    intervals (e.g. a missing factor, or a solver stuck at the warm start) without flaking. The
    full 4,000-resample figure (target 0.015) is measured by benchmarks/bench_bootstrap.py."""
    b = epoch_boot
    assert b.n_resamples == 300
    assert b.n_converged >= 290
    ci = dict(zip(js.chinchilla.param_names, b.interval(level=0.95)))
    ref = epoch_reference["epoch_bootstrap_ci95"]
    for k in ("alpha", "beta", "E"):
        assert ci[k][0] == pytest.approx(ref[k][0], abs=0.03), k
        assert ci[k][1] == pytest.approx(ref[k][1], abs=0.03), k
    se = dict(zip(js.chinchilla.param_names, b.se()))
    for k in ("alpha", "beta", "E"):
        assert se[k] == pytest.approx(epoch_reference["epoch_bootstrap_se"][k], rel=0.25), k


def test_resample_fits_match_exhaustive_grid(epoch_fit, epoch_boot):
    """The warm+basin start strategy reaches the exhaustive 4,500-start grid optimum on sampled resamples."""
    counts = resample_weights(epoch_fit.data.n, 300, 42)
    pick = [0, 97, 211]
    ds = epoch_fit.data
    y = epoch_fit.loss.target(ds.y)
    grid = js.chinchilla.default_starts()
    for r in pick:
        full = solve_batch(js.chinchilla, epoch_fit.loss, epoch_fit.solver, grid, ds.inputs, y, counts[r],
                           n_steps=epoch_fit.n_steps, xtol=1e-6)
        best = np.nanmin(np.where(np.isfinite(full.objective), full.objective, np.nan))
        assert epoch_boot.objective[r] <= best * (1 + 1e-7), r
        u_boot = js.chinchilla.unconstrain({k: epoch_boot.draws[k][r] for k in js.chinchilla.param_names})
        u_grid = full.u[np.nanargmin(np.where(np.isfinite(full.objective), full.objective, np.nan))]
        np.testing.assert_allclose(u_boot, u_grid, rtol=1e-5, atol=1e-6)


def test_same_seed_same_draws_bit_for_bit(epoch_fit):
    a = js.bootstrap(epoch_fit, 16, seed=7, progress=False)
    b = js.bootstrap(epoch_fit, 16, seed=7, progress=False)
    c = js.bootstrap(epoch_fit, 16, seed=8, progress=False)
    for k in a.draws:
        np.testing.assert_array_equal(a.draws[k], b.draws[k])
    assert not np.array_equal(a.draws["alpha"], c.draws["alpha"])


def test_weights_and_clusters():
    w = resample_weights(10, 50, 0)
    assert w.shape == (50, 10) and np.all(w.sum(axis=1) == 10)
    labels = np.repeat(np.arange(5), 2)
    wc = resample_weights(10, 50, 0, labels)
    assert np.all(wc[:, ::2] == wc[:, 1::2])  # both points of a cluster share its count
    assert np.all(wc.sum(axis=1) == 10)


def test_basin_starts_are_distinct(epoch_fit):
    s = basin_starts(epoch_fit, 4)
    assert s.shape[1] == 5 and 1 <= s.shape[0] <= 5
    np.testing.assert_array_equal(s[0], epoch_fit.u)


@pytest.fixture(scope="module")
def synth():
    df = js.synthetic_chinchilla()
    return df, js.fit("chinchilla", df, starts="halton", n_starts=256, progress=False)


def test_schemes_and_bca(synth):
    df, f = synth
    iid = js.bootstrap(f, 64, seed=1, bca=True, progress=False, min_draws=50)
    res = js.bootstrap(f, 64, seed=1, scheme="residual", progress=False, min_draws=50)
    clu = js.bootstrap(f, 64, seed=1, scheme="cluster", cluster=df["C"].to_numpy(), progress=False,
                        min_draws=50)
    for b in (iid, res, clu):
        assert b.n_converged >= 56
        ci = b.interval()
        assert np.all(ci[:, 0] <= ci[:, 1])
    bca = iid.interval(method="bca")
    pct = iid.interval()
    assert bca.shape == pct.shape and not np.allclose(bca, pct)
    est = np.array([f.params[k] for k in js.chinchilla.param_names])
    assert np.all((bca[:, 0] <= est) & (est <= bca[:, 1]))
    ratio = iid.interval(lambda p: p["beta"] / (p["alpha"] + p["beta"]))
    assert 0.3 < ratio[0] < ratio[1] < 0.7
    with pytest.raises(ValueError, match="jackknife"):
        res.interval(method="bca")
    with pytest.raises(ValueError, match="cluster"):
        js.bootstrap(f, 8, scheme="cluster", progress=False)


def test_predict_and_compute_optimal(synth):
    df, f = synth
    b = js.bootstrap(f, 64, seed=3, progress=False, min_draws=50)
    pred = js.predict(b, {"N": [1e9, 7e10], "D": [2e10, 1.4e12]})
    assert list(pred.columns) == ["N", "D", "prediction", "lo", "hi", "band"]
    assert (pred["band"] == "mean 95%").all()
    assert np.all(pred["lo"] < pred["prediction"]) and np.all(pred["prediction"] < pred["hi"])
    np.testing.assert_allclose(pred["prediction"], f.predict({"N": [1e9, 7e10], "D": [2e10, 1.4e12]}), rtol=1e-12)
    opt = js.compute_optimal(b, [1e22, 1e24])
    assert np.all(opt["N_opt_lo"] < opt["N_opt"]) and np.all(opt["N_opt"] < opt["N_opt_hi"])
    np.testing.assert_allclose(6 * opt["N_opt"] * opt["D_opt"], opt["C"], rtol=1e-10)
    # closed form agrees with the numeric minimiser along the iso-compute curve
    num = js.compute_optimal(f, [1e22, 1e24], tokens_for=lambda n, c: c / (6.0 * n))
    np.testing.assert_allclose(num["N_opt"], opt["N_opt"], rtol=1e-6)
    # and the closed form really minimises L(N, C/(6N))
    n = opt["N_opt"][1] * np.array([0.9, 1.0, 1.1])
    losses = f.predict({"N": n, "D": 1e24 / (6 * n)})
    assert losses[1] < losses[0] and losses[1] < losses[2]
    with pytest.raises(ValueError, match="N and D"):
        js.compute_optimal(js.fit("power_law", {"x": [1, 2, 3, 4.0], "loss": [4, 3, 2.5, 2.2]}, progress=False), 1e20)


def test_sharded_over_four_cpu_devices_equals_single_device(tmp_path):
    import json

    import jax

    script = textwrap.dedent("""
        import json, sys, numpy as np, jax, jaxscale as js
        df = js.synthetic_chinchilla()
        f = js.fit("chinchilla", df, starts="halton", n_starts=32, progress=False)
        b = js.bootstrap(f, 12, seed=5, progress=False)
        json.dump({"n_dev": jax.device_count(), "alpha": b.draws["alpha"].tolist(), "conv": b.converged.tolist()},
                  open(sys.argv[1], "w"))
    """)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    out = tmp_path / "sharded.json"
    subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env, timeout=600)
    sharded = json.loads(out.read_text())
    assert jax.device_count() == 1 and sharded["n_dev"] == 4
    f = js.fit("chinchilla", js.synthetic_chinchilla(), starts="halton", n_starts=32, progress=False)
    single = js.bootstrap(f, 12, seed=5, progress=False)
    assert single.converged.tolist() == sharded["conv"]
    # Each device reduces a smaller batch, so XLA may sum in another order: the draws agree to
    # the solver's own convergence tolerance (xtol=1e-6 on the Newton step), not bit for bit.
    np.testing.assert_allclose(single.draws["alpha"], sharded["alpha"], rtol=1e-6)


def test_grouped_bootstrap_is_one_batch_equal_to_each_group_alone(tmp_path):
    """Groups of different sizes (points padded with zero weight) in one batch: group j with seed
    + j gives the draws of bootstrapping that group's fit alone (to the solver's xtol: the padded
    sums run in another order), and the grouped result saves and loads as one file."""
    import pandas as pd

    a, b = js.synthetic_chinchilla(seed=1), js.synthetic_chinchilla(seed=2).iloc[:100]
    g = js.fit("chinchilla", pd.concat([a.assign(f="x"), b.assign(f="y")]), group="f", starts="halton",
               n_starts=32, progress=False)
    gb = js.bootstrap(g, 24, seed=3, progress=False, on_failure="ignore")
    assert gb.group_column == "f" and list(gb.results) == ["x", "y"]
    for j, k in enumerate(("x", "y")):
        alone = js.bootstrap(g[k], 24, seed=3 + j, progress=False, on_failure="ignore")
        np.testing.assert_array_equal(gb[k].converged, alone.converged)
        for name in js.chinchilla.param_names:
            np.testing.assert_allclose(gb[k].draws[name], alone.draws[name], rtol=1e-5)
    assert gb.status.n == 2 and len(gb.table()) == 10
    with pytest.warns(js.IntervalWarning):  # 24 resamples: too few for a 95% interval
        pred = js.predict(gb, {"N": [1e9], "D": [2e10]})
    assert list(pred["f"]) == ["x", "y"] and pred["lo"].isna().all()
    g.save(tmp_path / "g.json")
    back = js.load(tmp_path / "g.json")
    assert list(back.fits) == ["x", "y"] and back["y"].params == g["y"].params


# ---------------------------------------------------------------------------------------------
# Residual scheme: modified (deletion) residuals
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def linear_ls():
    """A linear-in-parameters least-squares fit: y = E + A x^-1/2 (alpha fixed), squared loss in
    linear space, 12 points; with its design matrix for NumPy references."""
    x = np.logspace(0, 3, 12)
    rng = np.random.default_rng(3)
    y = 2.0 + 3.0 * x ** -0.5 + 0.05 * rng.standard_normal(12) * (1 + (x > 500))  # two noisier far points
    f = js.fit("saturating_power_law", {"x": x, "loss": y}, loss="squared", fixed={"alpha": 0.5}, progress=False)
    return f, np.column_stack([np.ones_like(x), x ** -0.5]), y


def test_modified_residuals_are_davison_hinkley_for_linear_least_squares(linear_ls):
    """For linear least squares the deletion residual is r_i / (1 - h_ii), so the scheme's residuals
    must equal Davison & Hinkley's r_i / sqrt(1 - h_ii), recentred (Alg. 6.3), computed here in NumPy.
    Both routes (leave-one-out refits; the linearised fallback) must agree to solver precision."""
    from jaxscale._bootstrap import leave_one_out, leverages, modified_residuals

    f, X, y = linear_ls
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    r = y - X @ beta
    h = np.einsum("ij,ji->i", X, np.linalg.pinv(X))
    want = r / np.sqrt(1 - h)
    want -= want.mean()
    np.testing.assert_allclose(leverages(f), h, atol=1e-10)
    assert leverages(f).sum() == pytest.approx(2.0)
    loo = leave_one_out(f)
    assert loo[1].all()
    np.testing.assert_allclose(modified_residuals(f, loo), want, atol=1e-7)
    np.testing.assert_allclose(modified_residuals(f), want, atol=1e-9)
    # raw residuals are visibly smaller: the test can tell the two apart
    assert np.std(r) < 0.95 * np.std(want)
    # so the two routes give the same resamples (same seed, same indices)
    kw = dict(seed=2, scheme="residual", progress=False, min_draws=20)
    a, b = js.bootstrap(f, 40, **kw), js.bootstrap(f, 40, residuals="linearised", **kw)
    assert (a.residuals, b.residuals) == ("modified", "linearised")
    np.testing.assert_allclose(a.draws["A"], b.draws["A"], rtol=1e-6)
    with pytest.raises(ValueError, match="residuals"):
        js.bootstrap(f, 40, residuals="studentized", **kw)


def test_residual_bootstrap_se_matches_analytic_linear_se(linear_ls):
    """Resampling fixed residuals m in a linear model gives Var*(beta*) = mean(m^2) (X^T X)^-1 exactly;
    2,000 resamples estimate each SE to about 1/sqrt(2 * 2000) = 1.6%, so 6% is ~4 Monte Carlo SEs.
    Raw (unmodified) residuals would give SEs sqrt(sum (1-h)/n)-ish = 0.91 of these: a failure."""
    f, X, y = linear_ls
    h = np.einsum("ij,ji->i", X, np.linalg.pinv(X))
    r = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    m = r / np.sqrt(1 - h)
    m -= m.mean()
    want = np.sqrt(np.mean(m ** 2) * np.diag(np.linalg.inv(X.T @ X)))
    b = js.bootstrap(f, 2000, seed=5, scheme="residual", progress=False)
    assert b.n_converged == 2000
    se = dict(zip(b.law.param_names, b.se()))
    assert se["E"] == pytest.approx(want[0], rel=0.06)
    assert se["A"] == pytest.approx(want[1], rel=0.06)


def test_huber_deletion_residual_matches_a_refit_without_the_point():
    """Under a Huber fit the deletion residual of point i is y_i minus the prediction of the fit made
    without i (here: refitted with weight 0 on i through js.fit), times sqrt(1 - h_ii); the pool is
    centred at the objective's own location (sum psi(m) = 0)."""
    from jaxscale._bootstrap import leave_one_out, leverages, modified_residuals

    x = np.logspace(1, 5, 16)
    rng = np.random.default_rng(0)
    y = (1.5 + 20.0 * x ** -0.45) * np.exp(0.03 * rng.standard_normal(16))
    f = js.fit("saturating_power_law", {"x": x, "loss": y}, progress=False)
    m = modified_residuals(f, leave_one_out(f))
    assert abs(np.sum(np.clip(m, -1e-3, 1e-3))) < 1e-9  # psi of Huber(1e-3)
    h = leverages(f)
    shift = []
    for i in (0, 9):
        w = np.where(np.arange(16) == i, 0.0, 1.0)
        g = js.fit("saturating_power_law", {"x": x, "loss": y}, weights=w, progress=False)
        d = (np.log(y[i]) - np.log(g.predict({"x": x[i:i + 1]})[0])) * np.sqrt(1 - h[i])
        shift.append(d - m[i])
    assert shift[0] == pytest.approx(shift[1], abs=1e-6)  # one centring shift for the whole pool
    assert abs(shift[0]) < 0.01


def test_objective_location():
    from jaxscale._bootstrap import objective_location

    e = np.array([-0.3, -0.01, 0.0, 0.002, 0.004, 0.5])
    assert objective_location(js.squared_log(), e) == pytest.approx(e.mean())
    c = objective_location(js.huber(1e-3), e)
    assert abs(np.sum(np.clip(e - c, -1e-3, 1e-3))) < 1e-12
    e2 = np.array([-0.3, -0.0004, 0.0001, 0.0003, 0.5])  # a unique root: the middle three are inside delta
    c2 = objective_location(js.huber(1e-3), e2)
    assert np.sum(np.clip(e2 - c2, -1e-3, 1e-3)) == pytest.approx(0.0, abs=1e-12)
    assert 0.0 < c < 0.004  # near the median, not pulled by the outliers like the mean (0.032)


def test_residual_scheme_treats_weights_as_precisions():
    """With weights 1/sigma^2 the residual scheme resamples standardised residuals: the errors it
    plants on the precise points have their scatter (0.005), not the pooled one (~0.029), and on
    the noisy points theirs (0.04). Equal weights leave the residuals exactly as they were."""
    from jaxscale._bootstrap import _Problem, precision_scale

    rng = np.random.default_rng(3)
    x = np.logspace(0, 3, 80)
    sigma = np.where(np.arange(80) % 2 == 0, 0.005, 0.04)
    y = (1.5 + 4.0 * x ** -0.4) * np.exp(sigma * rng.standard_normal(80))
    f = js.fit("saturating_power_law", {"x": x, "loss": y}, weights=1 / sigma ** 2, loss="squared_log",
               progress=False)
    prob = _Problem(f, 400, "residual", None, 0, 4, None, None, residuals="raw")
    cy = prob.data_fn(0, 400)[1]
    e = np.asarray(cy) - prob.fitted[None, :]
    sd_precise, sd_noisy = np.std(e[:, ::2]), np.std(e[:, 1::2])
    assert 0.0035 < sd_precise < 0.0065 and 0.03 < sd_noisy < 0.05, (sd_precise, sd_noisy)
    assert np.all(precision_scale(np.full(7, 0.1)) == 1.0)
    assert np.allclose(precision_scale([1.0, 4.0, 0.0]), [np.sqrt(0.4), np.sqrt(1.6), 1.0])
