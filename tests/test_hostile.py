"""Hostile input: every case of issue 15's "Why" gives a one-line error (exit 2 on the command
line, ``ValueError``/``TypeError`` naming the argument in the API) or a correct result.

Most tests never fit anything: validation must fail first, and several prove it by replacing
the fitting function with one that fails the test if it is ever called.
"""

import json
import os
import signal
import subprocess
import sys
import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import jaxscale as js
from jaxscale import _cli
from jaxscale._engine import solve_batch
from jaxscale._starts import MAX_GRID_STARTS, StartsWarning, make_starts
from jaxscale._validate import SEED_BOUND, check_output_path, seed_int


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    p = tmp_path_factory.mktemp("hostile") / "runs.csv"
    js.synthetic_chinchilla().to_csv(p, index=False)
    return p


@pytest.fixture
def no_fit(monkeypatch):
    """Any call of fit/bootstrap/bayes_fit from the CLI fails the test: validation must come first."""
    def boom(*a, **k):
        raise AssertionError("expensive work ran before validation")

    monkeypatch.setattr(_cli, "fit", boom)
    monkeypatch.setattr(_cli, "bootstrap", boom)


def _one_line_exit2(capsys, argv, needle):
    rc = _cli.main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


# ----------------------------------------------------------------------------------------------
# 1. Validation before any work (CLI: exit 2, one line)
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra,needle", [
    (["--level", "1.5"], "level must be in (0, 1)"),
    (["--level", "0"], "level must be in (0, 1)"),
    (["--bootstrap", "-1"], "--bootstrap must be >= 0"),
    (["--predict", "N=1e9"], "missing ['D']"),
    (["--predict", "N=1e9,D=-4"], "values of D must be finite and > 0"),
    (["--predict", "N=1e9,D=2e10,Q=3"], "unknown ['Q']"),
    (["--predict", "N=x,D=1"], "--predict values must be numbers"),
    (["--method", "nuts", "--bootstrap", "10"], "not both"),
    (["--chains", "-2", "--method", "nuts"], "--chains must be >= 1"),
    (["--chains", "0", "--method", "nuts"], "--chains must be >= 1"),
    (["--warmup", "-5", "--method", "nuts"], "--warmup must be >= 1"),
    (["--samples", "0", "--method", "nuts"], "--samples must be >= 1"),
    (["--chains", "2"], "only apply with --method nuts"),
    (["--min-draws", "0", "--bootstrap", "10"], "--min-draws must be >= 1"),
    (["--n-steps", "0"], "--n-steps must be >= 1"),
    (["--delta", "-1"], "--delta must be"),
    (["--starts", "halton:x"], "--starts"),
    (["--cluster", "C"], "add --bootstrap N"),
    (["--save-idata", "x.nc"], "only apply with --method nuts"),
    (["--group", "C", "--bootstrap", "5"], "--bootstrap with --group"),
    (["--loss", "squared_log", "--delta", "1e-3"], "conflicts with --loss"),
    (["--group", "C", "--predict", "N=1,D=1"], "--predict with --group"),
])
def test_cli_rejects_bad_arguments_before_any_work(csv, capsys, no_fit, extra, needle):
    _one_line_exit2(capsys, ["fit", str(csv), "--no-progress"] + extra, needle)


@pytest.mark.parametrize("flag", ["--json", "--save", "--plot"])
def test_cli_checks_output_folders_at_once(csv, tmp_path, capsys, no_fit, flag):
    _one_line_exit2(capsys, ["fit", str(csv), "--no-progress", flag, str(tmp_path / "missing" / "out.x")],
                    "does not exist")
    _one_line_exit2(capsys, ["fit", str(csv), "--no-progress", flag, str(tmp_path)], "is a folder")
    assert not list(tmp_path.glob(".jaxscale-*"))  # no temporary file was left behind


def test_cli_optimal_compute_checked_first(csv, capsys, no_fit):
    _one_line_exit2(capsys, ["optimal", str(csv), "--compute", "-1", "--no-progress"], "--compute must be")
    _one_line_exit2(capsys, ["optimal", str(csv), "--compute", "1e21", "--law", "power_law", "--no-progress"],
                    "needs a law of N and D")


def test_cli_demo_arguments_checked_first(capsys, monkeypatch):
    monkeypatch.setattr(_cli, "synthetic_chinchilla", lambda **k: pytest.fail("work ran before validation"))
    _one_line_exit2(capsys, ["demo", "--no-progress", "--json", "/nonexistent/d.json"], "does not exist")
    _one_line_exit2(capsys, ["demo", "--bootstrap", "0", "--no-progress"], "--bootstrap must be >= 1")


def test_output_path_check_names_the_argument(tmp_path):
    assert check_output_path(str(tmp_path / "ok.json"), "--json").endswith("ok.json")
    with pytest.raises(ValueError, match="out: folder"):
        check_output_path(tmp_path / "a" / "b.json", "out")


# ----------------------------------------------------------------------------------------------
# 1. Validation in the API: TypeError / ValueError naming the argument
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_fit():
    x = np.logspace(1, 4, 12)
    return js.fit("power_law", {"x": x, "loss": 5.0 * x ** -0.3}, target="loss", starts="halton", n_starts=4,
                  loss="squared_log", progress=False, on_failure="ignore")


@pytest.mark.parametrize("kwargs,exc,needle", [
    ({"n_resamples": 1e3}, TypeError, "n_resamples must be an integer"),
    ({"n_resamples": True}, TypeError, "n_resamples must be an integer"),
    ({"n_resamples": 0}, ValueError, "n_resamples must be >= 1"),
    ({"n_resamples": 10, "seed": 1.5}, TypeError, "seed must be an integer"),
    ({"n_resamples": 10, "level": 1.5}, ValueError, "level must be in (0, 1)"),
    ({"n_resamples": 10, "chunk_size": 0}, ValueError, "chunk_size must be >= 1"),
    ({"n_resamples": 10, "n_basins": -1}, ValueError, "n_basins must be >= 0"),
])
def test_bootstrap_arguments(small_fit, kwargs, exc, needle):
    with pytest.raises(exc, match=needle.replace("(", r"\(").replace(")", r"\)")):
        js.bootstrap(small_fit, progress=False, **kwargs)


def test_bootstrap_refuses_a_non_fit():
    with pytest.raises(TypeError, match="fit must be a jaxscale.FitResult"):
        js.bootstrap({"E": 1.0}, 10)


@pytest.mark.parametrize("kwargs,exc,needle", [
    ({"chains": 0}, ValueError, "chains must be >= 1"),
    ({"chains": 2.0}, TypeError, "chains must be an integer"),
    ({"warmup": -5}, ValueError, "warmup must be >= 1"),
    ({"samples": 0}, ValueError, "samples must be >= 1"),
    ({"seed": "1"}, TypeError, "seed must be an integer"),
    ({"level": 2}, ValueError, "level must be in"),
])
def test_bayes_arguments_checked_before_any_work(kwargs, exc, needle):
    with pytest.raises(exc, match=needle):
        js.bayes_fit("chinchilla", "/nonexistent.csv", **kwargs)


def test_fit_counts_and_seed_types():
    x = np.logspace(1, 3, 6)
    data = {"x": x, "loss": 2 * x ** -0.5}
    with pytest.raises(TypeError, match="n_steps must be an integer"):
        js.fit("power_law", data, n_steps=10.0, progress=False)
    with pytest.raises(TypeError, match="seed must be an integer"):
        js.fit("power_law", data, seed=0.5, progress=False)
    with pytest.raises(TypeError, match="n_starts must be an integer"):
        js.fit("power_law", data, starts="halton", n_starts=64.0, progress=False)
    with pytest.raises(ValueError, match="level must be in"):
        js.predict(js.FitResult.__new__(js.FitResult), {"x": [1.0]}, level=1.5)


@pytest.mark.parametrize("seed", [-1, -(2 ** 80), 2 ** 64, 2 ** 200])
def test_any_python_int_is_a_seed(seed):
    s = seed_int(seed)
    assert 0 <= s < SEED_BOUND and s == seed_int(seed)  # reproducible
    assert seed_int(seed) != seed_int(seed + 1)
    u = make_starts(js.chinchilla, "halton", n=4, seed=seed)
    assert u.shape == (4, 5) and np.all(np.isfinite(u))
    np.testing.assert_array_equal(u, make_starts(js.chinchilla, "halton", n=4, seed=seed))
    w = js._bootstrap.resample_weights(7, 3, seed)
    assert w.shape == (3, 7) and np.all(w.sum(axis=1) == 7)


def test_small_seeds_are_unchanged():
    assert seed_int(0) == 0 and seed_int(12345) == 12345 and seed_int(SEED_BOUND - 1) == SEED_BOUND - 1


# ----------------------------------------------------------------------------------------------
# 1. A broken law is named before any compilation
# ----------------------------------------------------------------------------------------------
def _law(fn, name):
    return js.law(name=name, inputs=("x",), params=(js.Param("a", "positive", grid=(1.0, 2.0)),
                                                    js.Param("b", "real", grid=(0.1, 0.5))))(fn)


@pytest.mark.parametrize("fn,needle", [
    (lambda p, x: p["a"] * 1.0, "must return one value per data point"),             # a scalar
    (lambda p, x: jnp.stack([x["x"], x["x"]]) * p["a"], "must return one value per data point"),  # wrong shape
    (lambda p, x: p["a"] * x["z"], "failed on a 3-point input: KeyError"),  # raises inside
    (lambda p, x: p["a"] * x["x"] * jnp.nan, "returns NaN or infinite values"),
    (lambda p, x: (x["x"] > 0), "floating-point"),
])
def test_broken_laws_are_named(fn, needle):
    law = _law(fn, "broken_law")
    x = np.logspace(1, 3, 8)
    with pytest.raises(ValueError, match="law 'broken_law'") as err:
        js.fit(law, {"x": x, "loss": 1 + x ** -0.5}, loss="squared", progress=False)
    assert needle in str(err.value)


# ----------------------------------------------------------------------------------------------
# 1. Clean interrupt
# ----------------------------------------------------------------------------------------------
def test_interrupt_between_chunks_says_how_far(small_fit):
    law, ds = small_fit.law, small_fit.data
    y = small_fit.loss.target(ds.y)

    def data_fn(lo, hi):
        if lo >= 4:
            raise KeyboardInterrupt
        k = hi - lo
        return {n: np.broadcast_to(v, (k,) + v.shape) for n, v in ds.inputs.items()}, np.broadcast_to(y, (k, ds.n)), \
            np.ones((k, ds.n))

    with pytest.raises(js.Interrupted, match="interrupted after 4 of 10 resamples") as err:
        solve_batch(law, small_fit.loss, small_fit.solver, small_fit.u[None], None, None, None, n_steps=2, xtol=1e-6,
                    chunk_size=4, n_batch=10, data_fn=data_fn, n_points=ds.n, what="resamples")
    assert isinstance(err.value, KeyboardInterrupt) and (err.value.done, err.value.total) == (4, 10)


def test_cli_interrupt_is_one_line_exit_130(csv, capsys, monkeypatch):
    def interrupted(*a, **k):
        raise js.Interrupted(1200, 4000, "resamples")

    monkeypatch.setattr(_cli, "fit", interrupted)
    rc = _cli.main(["fit", str(csv), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 130 and err.strip() == "jaxscale: interrupted after 1,200 of 4,000 resamples"


@pytest.mark.slow
def test_sigint_during_bootstrap_exits_130_without_traceback(csv):
    p = subprocess.Popen([sys.executable, "-m", "jaxscale", "fit", str(csv), "--starts", "halton:8", "--bootstrap",
                          "3000000", "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    import time

    time.sleep(25)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("jaxscale: interrupted")


# ----------------------------------------------------------------------------------------------
# 5. Bounded memory: starts
# ----------------------------------------------------------------------------------------------
def _wide_law(p_count):
    params = tuple(js.Param(f"c{i}", "real", grid=(-1.0, 0.0, 1.0)) for i in range(p_count))

    def fn(p, x):
        return 1.0 + sum(p[f"c{i}"] * x["x"] ** (i + 1) * 1e-3 for i in range(p_count))

    return js.law(name=f"wide{p_count}", inputs=("x",), params=params)(fn)


def test_halton_starts_never_build_the_grid():
    law = _wide_law(20)  # 3^20 = 3.5e9 grid points: building them would need 560 GB
    u = make_starts(law, "halton", n=64, seed=0)
    assert u.shape == (64, 20) and u.min() >= -1 and u.max() <= 1
    with pytest.warns(StartsWarning, match="3.49e\\+09 points"):
        g = make_starts(law, None)
    assert g.shape == (MAX_GRID_STARTS, 20)
