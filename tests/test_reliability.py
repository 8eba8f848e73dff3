"""Issue 7: bad input fails loudly (Python API and CLI), failures are counted and reported,
results are reproducible and scale-invariant.

Cases already covered in test_data.py / test_cli.py are not repeated here. Compile time dominates:
every fit of the saturating law here uses 16 points and its default 100-start grid (one compiled
solver), every bootstrap 16 resamples with one start each (one more)."""

import warnings

import numpy as np
import pandas as pd
import pytest

import jaxscale as js
from jaxscale._cli import main
from jaxscale._status import BOUND_RTOL, params_at_bound

X = np.logspace(0, 5, 16)
Z = np.random.default_rng(7).standard_normal(16)
TRUE = {"E": 1.5, "A": 20.0, "alpha": 0.45}


def curve(E=1.5, A=20.0, alpha=0.45, noise=0.01):
    return (E + A * X ** -alpha) * np.exp(noise * Z)


@pytest.fixture(scope="module")
def good():
    return pd.DataFrame({"x": X, "loss": curve()})


@pytest.fixture(scope="module")
def floorless():
    """A pure power law: the saturating law's floor E has nothing to fit and collapses to 0."""
    return pd.DataFrame({"x": X, "loss": curve(E=0.0, noise=0.0)})


@pytest.fixture(scope="module")
def good_fit(good):
    return js.fit("saturating_power_law", good, progress=False)


def fit_sat(data, **kw):
    return js.fit("saturating_power_law", data, progress=False, **kw)


# ----------------------------------------------------------------------------------------------
# 1. Bad input: Python API (cases not already in test_data.py)
# ----------------------------------------------------------------------------------------------
def test_constant_input_is_unidentifiable(good):
    with pytest.raises(ValueError, match=r"input x \(column 'x'\) has the single value 10"):
        fit_sat(good.assign(x=10.0))


def test_two_identical_inputs_are_unidentifiable():
    df = js.synthetic_chinchilla().iloc[:20]
    with pytest.raises(ValueError, match=r"input N \(column 'N'\) and input D \(column 'N'\) are identical"):
        js.fit("chinchilla", df, inputs={"N": "N", "D": "N"}, progress=False)


def test_duplicate_points_fewer_than_parameters(good):
    dup = good.assign(x=np.where(np.arange(16) < 8, 10.0, 100.0))
    with pytest.raises(ValueError, match=r"2 distinct input point\(s\).*fewer than the 3 parameters"):
        fit_sat(dup)
    # zero-weight points do not count as data
    w = np.r_[np.ones(15), 0.0]
    with pytest.raises(ValueError, match="2 distinct input point"):
        fit_sat(dup.assign(x=np.r_[dup["x"].to_numpy()[:15], 1e4]), weights=w)


@pytest.mark.parametrize("values,dtype", [(X.astype(complex), "complex128"), (X > 10, "bool"),
                                          (pd.date_range("2020", periods=16).to_numpy(), "datetime64")])
def test_wrong_dtypes_name_the_column(good, values, dtype):
    with pytest.raises(ValueError, match=rf"column 'x' \(input x\) has dtype {dtype}"):
        fit_sat({"x": values, "loss": good["loss"].to_numpy()})


@pytest.mark.parametrize("kw,match", [
    ({"dtype": "int32"}, "dtype must be float64 or float32"),
    ({"dtype": 3}, "dtype must be float64 or float32"),
    ({"seed": "abc"}, "seed must be an integer"),
    ({"on_failure": "panic"}, "on_failure must be one of"),
    ({"n_steps": 0}, "n_steps"),
    ({"loss": "l1"}, "l1"),
    ({"solver": "sgd"}, "unknown solver 'sgd'"),
])
def test_bad_arguments_name_the_argument(good, kw, match):
    with pytest.raises((ValueError, TypeError), match=match):  # TypeError for a value of the wrong type
        fit_sat(good, **kw)


def test_unknown_law_and_bad_containers(good):
    with pytest.raises(ValueError, match="unknown law 'gpt'"):
        js.fit("gpt", good, progress=False)
    with pytest.raises(ValueError, match="got list"):
        fit_sat([1.0, 2.0])
    with pytest.raises(ValueError, match="no rows"):
        fit_sat({})


def test_ragged_csv_is_one_clear_error(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("x,loss\n1,2\n3,4,5\n")
    with pytest.raises(ValueError, match=r"r.csv is not a readable CSV file: .*line 3") as err:
        fit_sat(p)
    assert "\n" not in str(err.value)


def test_on_failure_argument_checked_everywhere(good_fit, good):
    with pytest.raises(ValueError, match="on_failure"):
        js.bootstrap(good_fit, 16, on_failure="explode", progress=False)
    with pytest.raises(ValueError, match="on_failure"):
        js.bayes_fit("saturating_power_law", good, init=good_fit, on_failure="explode", progress=False)


# ----------------------------------------------------------------------------------------------
# 1. Bad input: CLI (one line on stderr, no traceback, non-zero exit)
# ----------------------------------------------------------------------------------------------
def _csv(tmp_path, text=None, frame=None):
    p = tmp_path / "runs.csv"
    if frame is not None:
        frame.to_csv(p, index=False)
    else:
        p.write_text(text)
    return p


GOOD = pd.DataFrame({"x": X, "loss": curve()})
CLI_CASES = {
    "nan": (GOOD.assign(loss=GOOD["loss"].where(GOOD.index != 3, np.nan)), [], "column 'loss' (target) has 1 NaN"),
    "inf": (GOOD.assign(x=GOOD["x"].where(GOOD.index != 2, np.inf)), [], "column 'x' (input x) has 1 NaN or infinite"),
    "zero_under_log": (GOOD.assign(x=GOOD["x"].where(GOOD.index != 0, 0.0)), [], "input x (column 'x') must be > 0"),
    "negative_target": (GOOD.assign(loss=-GOOD["loss"]), [], "target 'loss' must be > 0"),
    "constant": (GOOD.assign(x=5.0), [], "input x (column 'x') has the single value 5"),
    "duplicates": (GOOD.assign(x=np.repeat([1.0, 10.0], 8)), [], "2 distinct input point(s)"),
    "two_points": (GOOD.iloc[:2], [], "2 point(s) with positive weight, fewer than the 3"),
    "text": (GOOD.assign(loss=GOOD["loss"].astype(str).where(GOOD.index != 4, "n/a")), [], "column 'loss'"),
    "unknown_target": (GOOD, ["--target", "val_loss"], "unknown column 'val_loss'"),
    "unknown_input": (GOOD, ["--inputs", "N=x"], "unknown input name(s) ['N']"),
    "two_inputs_one_column": (GOOD.assign(D=GOOD["x"] * 20), ["--law", "chinchilla", "--inputs", "N=x,D=x"],
                              "are identical"),
    "bad_weights": (GOOD.assign(w=-1.0), ["--weights", "w"], "weights must be >= 0"),
    "empty_csv": ("", [], "is empty"),
    "header_only": ("x,loss\n", [], "has a header but no rows"),
    "ragged_csv": ("x,loss\n1,2\n3,4,5\n", [], "not a readable CSV file"),
    "bad_int_option": (GOOD, ["--n-steps", "ten"], "argument --n-steps: invalid int value"),
    "bad_on_failure": (GOOD, ["--on-failure", "panic"], "argument --on-failure: invalid choice"),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_bad_input_one_line(tmp_path, capsys, case):
    data, extra, msg = CLI_CASES[case]
    p = _csv(tmp_path, frame=data) if isinstance(data, pd.DataFrame) else _csv(tmp_path, text=data)
    args = ["fit", str(p), "--law", "saturating_power_law", "--no-progress"] + extra
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse usage errors
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2, err
    assert msg in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_missing_file(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "nope.csv"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "nope.csv" in err and len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------------------------
# 2. Failure semantics
# ----------------------------------------------------------------------------------------------
def test_good_fit_has_no_failures(good_fit):
    assert good_fit.converged and good_fit.at_bound == ()
    for k, v in TRUE.items():
        assert good_fit.params[k] == pytest.approx(v, rel=0.05)


def test_parameter_on_bound_warns_naming_it(floorless):
    with pytest.warns(js.BoundWarning) as rec:
        res = fit_sat(floorless)
    assert res.at_bound == ("E",) and res.params["E"] < 1e-6 * np.exp(-2.0)
    assert res.to_dict()["at_bound"] == ["E"]
    bound = [str(w.message) for w in rec if w.category is js.BoundWarning]
    assert len(bound) == 1 and "parameter(s) E on a bound" in bound[0]
    # the collapsed floor is the minimum of the constrained problem (KKT certified, see
    # tests/test_bound_optima.py): converged, and the bound is the one thing reported
    assert res.converged
    assert not any(w.category is js.ConvergenceWarning for w in rec)


def test_on_failure_raise_and_ignore(floorless):
    with pytest.raises(js.ConvergenceError, match="E on a bound"):
        fit_sat(floorless, on_failure="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = fit_sat(floorless, on_failure="ignore")
    assert res.at_bound == ("E",) and res.status.problems == ("at bound: E",)  # still recorded


def test_bayes_fit_passes_on_failure_to_its_point_fit(floorless):
    # the Huber likelihood starts from the Huber point fit (the solver compiled above); it fails
    # before any sampling
    with pytest.raises(js.ConvergenceError, match="E on a bound"):
        js.bayes_fit("saturating_power_law", floorless, likelihood="huber", on_failure="raise", progress=False)


def test_bound_rule_for_positive_and_bounded_params():
    law = js.law(inputs=("x",), params=(js.Param("a", "positive", grid=(0.1, 10.0)), js.Param("q", (0.0, 1.0)),
                                        js.Param("r", "real")))(lambda p, x: p["a"] * x["x"] ** p["r"] + p["q"])
    m = -np.log(BOUND_RTOL)
    assert params_at_bound(law, [np.log(0.1) - m + 0.1, 0.0, -1e3]) == ()
    assert params_at_bound(law, [np.log(0.1) - m - 0.1, 0.0, 0.0]) == ("a",)
    assert params_at_bound(law, [0.0, m + 0.1, 0.0]) == ("q",)
    assert params_at_bound(law, [0.0, -m - 0.1, np.nan]) == ("q", "r")


def test_cli_warns_in_one_line_and_can_fail(tmp_path, capsys, floorless):
    p = _csv(tmp_path, frame=floorless)
    base = ["fit", str(p), "--law", "saturating_power_law", "--no-progress"]
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # pyproject turns ConvergenceWarning into an error in tests
        assert main(base) == 0
    captured = capsys.readouterr()
    assert "ON A BOUND (not determined by the data): E" in captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jaxscale: warning: ") and "E on a bound" in lines[0]
    assert main(base + ["--on-failure", "raise"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("jaxscale: failed:") and "E on a bound" in err and len(err.strip().splitlines()) == 1
    assert main(base + ["--on-failure", "ignore"]) == 0
    assert capsys.readouterr().err == ""


@pytest.fixture(scope="module")
def stopped_fit(floorless):
    """A solver stopped far too early (3 Adam steps): its resamples cannot converge, even with the
    continuation rounds. (A floor on its bound is no failure: a certified minimum.)"""
    return fit_sat(floorless, solver="adam", n_steps=3, on_failure="ignore")


def test_failed_resamples_are_counted_and_left_out(stopped_fit):
    with pytest.warns(js.BootstrapWarning, match=r"(\d+) of 16 bootstrap resamples .* did not converge") as rec:
        boot = js.bootstrap(stopped_fit, 16, n_basins=0, seed=1, progress=False)
    n_bad = boot.n_resamples - boot.n_converged
    assert n_bad > 0 and f"{n_bad} of 16" in str(rec[0].message)
    assert f"{n_bad} not converged (of 16 resamples)" in repr(boot)
    with pytest.raises(js.ConvergenceError, match="of 16 bootstrap resamples"):
        js.bootstrap(stopped_fit, 16, n_basins=0, seed=1, progress=False, on_failure="raise")


def test_intervals_use_converged_resamples_only(good_fit):
    import dataclasses

    boot = js.bootstrap(good_fit, 16, n_basins=0, seed=3, progress=False, on_failure="ignore")
    mask = boot.converged & (np.arange(16) % 4 != 0)  # pretend every 4th resample failed, with a wild value
    draws = {k: np.where(mask, v, 1e6) for k, v in boot.draws.items()}
    fake = dataclasses.replace(boot, draws=draws, converged=mask, min_draws=8)
    kept = np.stack([boot.draws[k][mask] for k in good_fit.law.param_names], axis=-1)
    np.testing.assert_allclose(fake.interval(), np.quantile(kept, [0.025, 0.975], axis=0).T, rtol=1e-14)
    np.testing.assert_allclose(fake.se(), np.std(kept, axis=0, ddof=1), rtol=1e-14)
    assert fake.to_dict()["n_resamples_converged"] == mask.sum() <= 12


def test_no_interval_from_too_few_valid_draws(good_fit):
    """Below the minimum of valid draws (100 at 95%, 50 at 90%) interval() raises, the table shows
    the count and "too few valid resamples" instead of numbers, predict gives NaN with a warning."""
    import dataclasses

    from jaxscale._results import IntervalWarning, min_valid_draws

    assert [min_valid_draws(v) for v in (0.95, 0.9, 0.99, 0.5)] == [100, 50, 500, 20]
    boot = js.bootstrap(good_fit, 16, n_basins=0, seed=3, progress=False, on_failure="ignore")
    assert boot.n_converged >= 12
    with pytest.raises(ValueError, match=rf"too few valid resamples \({boot.n_converged} of 16; 100 needed"):
        boot.interval()
    with pytest.raises(ValueError, match="too few"):
        boot.interval(lambda p: p["alpha"], level=0.9)
    t = boot.table()
    assert t["lo 95%"].isna().all() and t["se"].isna().all()
    assert t["note"].str.contains(f"too few valid resamples \\({boot.n_converged} of 16").all()
    assert "too few valid resamples" in boot.summary()
    d = boot.to_dict()
    assert d["intervals"] is None and "too few" in d["interval_note"] and d["n_valid"] == boot.n_converged
    with pytest.warns(IntervalWarning, match="too few valid resamples"):
        pred = js.predict(boot, {"x": [1e6]})
    assert np.isfinite(pred["prediction"]).all() and pred["lo"].isna().all()
    # the same draws with a lower stated minimum give numbers, flagged when they exclude the estimate
    ok = dataclasses.replace(boot, min_draws=10)
    assert np.isfinite(ok.interval()).all()
    shifted = dataclasses.replace(ok, draws={k: v * 1.5 for k, v in boot.draws.items()})
    assert shifted.table()["note"].eq("interval excludes the estimate").all()
    # a point fit: one draw and no spread
    assert not good_fit.has_draws and good_fit.draws["alpha"].shape == (1,)
    with pytest.raises(ValueError, match="a point fit has no draws"):
        good_fit.interval()


def test_results_protocol_surface(good_fit):
    """Every result: point, draws (leading draw axis), status, samples(fn) for ONE parameter set."""
    import jax.numpy as jnp

    boot = js.bootstrap(good_fit, 16, n_basins=0, seed=3, progress=False, on_failure="ignore", min_draws=8)
    for r in (good_fit, boot):
        assert set(r.point) == set(good_fit.law.param_names) and r.point == good_fit.params
        assert all(np.ndim(v) == 1 for v in r.draws.values())
        assert r.status.n_valid <= r.status.n and isinstance(r.summary(), str) and r.table().index.name == "param"
    kept = boot.valid_draws()
    ratio = boot.samples(lambda p: p["A"] / (1.0 + p["E"]))
    np.testing.assert_allclose(ratio, kept["A"] / (1 + kept["E"]), rtol=1e-13)
    curve = boot.samples(lambda p: good_fit.law.predict(p, {"x": jnp.asarray(X)}))
    assert curve.shape == (boot.n_converged, X.shape[0])
    np.testing.assert_allclose(boot.interval("alpha"), boot.interval()[good_fit.law.param_names.index("alpha")])
    assert boot.status.failures == ({"did not converge": 16 - boot.n_converged} if boot.n_converged < 16 else {})
    with pytest.raises(ValueError, match="level must be in"):
        boot.interval(level=1.5)


# ----------------------------------------------------------------------------------------------
# 4. Reproducibility and scale invariance
# ----------------------------------------------------------------------------------------------
def test_same_seed_same_data_identical_numbers(good, good_fit):
    again = fit_sat(good.copy())
    assert again.params == good_fit.params and again.data_hash == good_fit.data_hash
    for f in ("u", "objective", "grad_norm", "newton_step", "converged"):
        np.testing.assert_array_equal(getattr(again.starts, f), getattr(good_fit.starts, f))
    a = js.bootstrap(good_fit, 16, n_basins=0, seed=5, progress=False, on_failure="ignore")
    b = js.bootstrap(again, 16, n_basins=0, seed=5, progress=False, on_failure="ignore")
    for k in a.draws:
        np.testing.assert_array_equal(a.draws[k], b.draws[k])
    np.testing.assert_array_equal(a.converged, b.converged)


def test_seeded_random_starts_are_reproducible(good):
    # 100 random starts: the shape of the default grid, so no new compile
    a, b, c = (fit_sat(good, starts="random", n_starts=100, seed=s) for s in (3, 3, 4))
    assert a.seed == 3 and c.seed == 4
    np.testing.assert_array_equal(a.starts.u, b.starts.u)
    assert a.params == b.params
    assert not np.array_equal(a.starts.u, c.starts.u)
    for k, v in a.params.items():  # a different seed finds the same optimum
        assert c.params[k] == pytest.approx(v, rel=1e-6)


def test_data_hash_tracks_the_fitted_numbers(good, good_fit):
    from jaxscale._validate import data_sha256

    ds = good_fit.data
    assert data_sha256(ds, ("x",)) == good_fit.data_hash
    bumped = js.load_data(good.assign(loss=good["loss"] * (1 + 1e-15)), good_fit.law)
    assert data_sha256(bumped, ("x",)) != good_fit.data_hash


@pytest.fixture(scope="module")
def scaled_fits():
    df = js.synthetic_chinchilla(seed=3)
    kw = dict(starts="halton", n_starts=64, progress=False)
    return js.fit("chinchilla", df, **kw), js.fit("chinchilla", df.assign(N=df["N"] * 1e3), **kw)


def test_scale_invariance_chinchilla(scaled_fits):
    """N -> 1e3 N: A -> A * 1e3^alpha (A / N^alpha unchanged); E, B, alpha, beta unchanged.

    Tolerance 1e-6 relative: both fits converge (Newton step < 1e-6 relative in unconstrained
    space), so each parameter is within about that of the common optimum."""
    a, b = scaled_fits
    assert a.converged and b.converged
    for k in ("E", "B", "alpha", "beta"):
        assert b.params[k] == pytest.approx(a.params[k], rel=1e-6), k
    assert b.params["A"] == pytest.approx(a.params["A"] * 1e3 ** a.params["alpha"], rel=1e-5)
    assert b.objective == pytest.approx(a.objective, rel=1e-8, abs=1e-12)


def test_results_record_what_produced_them(good, good_fit, tmp_path):
    """loss and delta, solver and options, n_steps, xtol, starts, seed, dtype are on the result, in
    to_dict and in the saved file; the bootstrap reuses the fit's xtol and keeps the fit's seed."""
    f = fit_sat(good, xtol=1e-9, seed=3, starts="halton", n_starts=100)
    d = f.to_dict()
    assert (d["xtol"], d["starts"], d["seed"], d["delta"], d["n_steps"]) == (1e-9, "halton:100", 3, 1e-3, f.n_steps)
    js.save(f, tmp_path / "f.json")
    back = js.load(tmp_path / "f.json")
    assert back.xtol == 1e-9 and back.starts_spec == "halton:100" and back.to_dict() == d
    boot = js.bootstrap(f, 16, n_basins=0, seed=5, progress=False, on_failure="ignore")
    bd = boot.to_dict()
    assert bd["seed"] == 3 and bd["bootstrap_seed"] == 5 and bd["xtol"] == 1e-9
    assert boot.n_converged >= 12
    # the fit's xtol is what every resample's solve gets (it was a hard-coded 1e-6)
    import jaxscale._bootstrap as jb

    seen = []
    real = jb.solve_batch

    def spy(*args, **kw):
        seen.append(kw["xtol"])
        return real(*args, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(jb, "solve_batch", spy)
        js.bootstrap(f, 16, n_basins=0, seed=5, bca=True, progress=False, on_failure="ignore")
    assert seen and set(seen) == {1e-9}  # resamples and jackknife


def test_a_delta_the_loss_would_ignore_is_an_error(good):
    with pytest.raises(ValueError, match="conflicts with the loss huber"):
        fit_sat(good, loss=js.huber(1e-2), delta=1e-3)
    with pytest.raises(ValueError, match="loss='squared_log' has none"):
        fit_sat(good, loss="squared_log", delta=1e-3)
    assert fit_sat(good, loss=js.huber(1e-2), delta=1e-2).loss.delta == 1e-2  # the same delta twice is fine
