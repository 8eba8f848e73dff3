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
    (["--group", "C", "--method", "nuts", "--save-idata", "x.nc"], "with --group use --save"),
    (["--loss", "squared_log", "--delta", "1e-3"], "conflicts with --loss"),
    (["--group", "C", "--predict", "N=1,D=-1"], "--predict values of D must be finite and > 0"),
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


def test_swallowed_ctrl_c_still_stops_at_the_next_chunk(small_fit):
    """A real SIGINT whose KeyboardInterrupt is swallowed (as Python does inside a garbage-collector
    callback) still stops the loop after the chunk in which it arrived."""
    import os
    import signal
    import time

    law, ds = small_fit.law, small_fit.data
    y = small_fit.loss.target(ds.y)

    def data_fn(lo, hi):
        if lo == 4:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.5)  # the handler runs here and raises
            except KeyboardInterrupt:
                pass  # swallowed
        k = hi - lo
        return {n: np.broadcast_to(v, (k,) + v.shape) for n, v in ds.inputs.items()}, np.broadcast_to(y, (k, ds.n)), \
            np.ones((k, ds.n))

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(js.Interrupted, match="interrupted after 8 of 12 resamples"):
        solve_batch(law, small_fit.loss, small_fit.solver, small_fit.u[None], None, None, None, n_steps=2, xtol=1e-6,
                    chunk_size=4, n_batch=12, data_fn=data_fn, n_points=ds.n, what="resamples")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_cli_interrupt_is_one_line_exit_130(csv, capsys, monkeypatch):
    def interrupted(*a, **k):
        raise js.Interrupted(1200, 4000, "resamples")

    monkeypatch.setattr(_cli, "fit", interrupted)
    rc = _cli.main(["fit", str(csv), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 130 and err.strip() == "jaxscale: interrupted after 1,200 of 4,000 resamples"


@pytest.mark.slow
def test_sigint_during_bootstrap_exits_130_without_traceback(csv):
    # The child restores Python's Ctrl-C handler itself (a test runner's worker may ignore SIGINT,
    # and children inherit that); a preexec_fn would run Python between fork and exec in this
    # multithreaded (JAX) process, which can deadlock.
    argv = ["jaxscale", "fit", str(csv), "--starts", "halton:8", "--bootstrap", "3000000", "--no-progress"]
    code = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            f"sys.argv = {argv!r}; runpy.run_module('jaxscale', run_name='__main__')")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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


# ----------------------------------------------------------------------------------------------
# 2. Tamper-evident saves
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_boot(small_fit):
    return js.bootstrap(small_fit, 8, n_basins=0, seed=3, progress=False, on_failure="ignore", min_draws=4)


def _refused(path):
    with pytest.raises(ValueError) as err:
        js.load(path)
    assert str(path) in str(err.value), err.value
    return str(err.value)


@pytest.mark.parametrize("edit", [
    lambda d: d["params"].__setitem__("alpha", d["params"]["alpha"] * 1.01),
    lambda d: d.__setitem__("objective", 0.0),
    lambda d: d.__setitem__("converged", not d["converged"]),
    lambda d: d["meta"].__setitem__("seed", 7),
    lambda d: d["starts"]["converged"]["data"].__setitem__(0, not d["starts"]["converged"]["data"][0]),
    lambda d: d.__setitem__("content_sha256", "0" * 64),
    lambda d: d.pop("content_sha256"),
])
def test_edited_fit_json_is_refused(small_fit, tmp_path, edit):
    p = tmp_path / "fit.json"
    js.save(small_fit, p)
    doc = json.loads(p.read_text())
    edit(doc)
    p.write_text(json.dumps(doc))
    assert "sha256" in _refused(p)


@pytest.mark.parametrize("damage", [
    lambda b: b[: len(b) // 2],           # truncated
    lambda b: b[:-1],                      # one byte short
    lambda b: b"",                          # empty
    lambda b: b"\xff\xfe" + b[2:],          # not UTF-8
    lambda b: b'{"jaxscale_result": "fit"}',  # foreign / incomplete
    lambda b: b"[1, 2, 3]",                 # JSON, not an object
])
def test_damaged_fit_json_is_one_value_error(small_fit, tmp_path, damage):
    p = tmp_path / "fit.json"
    js.save(small_fit, p)
    p.write_bytes(damage(p.read_bytes()))
    _refused(p)


def test_edited_and_truncated_bootstrap_netcdf_is_refused(small_boot, tmp_path):
    import xarray as xr

    p = tmp_path / "boot.nc"
    js.save(small_boot, p)
    back = js.load(p)
    np.testing.assert_array_equal(back.draws["alpha"], small_boot.draws["alpha"])
    with xr.open_dataset(p, engine="h5netcdf") as xds:
        edited = xds.load()
    edited["draw__alpha"] = edited["draw__alpha"] * 1.5  # every draw
    q = tmp_path / "edited.nc"
    edited.to_netcdf(q, engine="h5netcdf")
    assert "content sha256" in _refused(q)
    with xr.open_dataset(p, engine="h5netcdf") as xds:
        edited = xds.load()
    edited["converged"] = ~edited["converged"]
    edited.to_netcdf(tmp_path / "conv.nc", engine="h5netcdf")
    _refused(tmp_path / "conv.nc")
    data = p.read_bytes()
    (tmp_path / "trunc.nc").write_bytes(data[: len(data) // 2])
    _refused(tmp_path / "trunc.nc")


def test_edited_posterior_netcdf_is_refused(small_fit, tmp_path):
    import xarray as xr

    from jaxscale import _arviz

    rng = np.random.default_rng(0)
    by_chain = {k: v + 0.01 * rng.standard_normal((2, 30)) for k, v in small_fit.params.items()}
    by_chain["sigma"] = np.abs(0.01 + 0.001 * rng.standard_normal((2, 30)))
    n = small_fit.data.n
    idata = _arviz.inference_data(posterior=by_chain, log_likelihood={"obs": rng.standard_normal((2, 30, n))},
                                  posterior_predictive={"obs": rng.standard_normal((2, 30, n))},
                                  observed={"obs": np.log(small_fit.data.y)},
                                  sample_stats={"diverging": np.zeros((2, 30), bool)},
                                  constant_data=dict(small_fit.data.inputs))
    post = js.PosteriorResult(small_fit, {k: v.reshape(-1) for k, v in by_chain.items()}, idata,
                              _arviz.summary(idata, list(by_chain)), 0, "gaussian", 2, 5, 0.9)
    p = tmp_path / "post.nc"
    js.save(post, p)
    np.testing.assert_array_equal(js.load(p).draws["a"], post.draws["a"])
    with xr.open_dataset(p, group="posterior", engine="h5netcdf") as xds:
        posterior = xds.load()
    posterior["a"] = posterior["a"] * 2
    posterior.to_netcdf(p, group="posterior", mode="a", engine="h5netcdf")
    assert "content sha256" in _refused(p)


def test_saved_files_get_the_users_umask(small_fit, tmp_path):
    for mask, mode in ((0o022, 0o644), (0o002, 0o664), (0o077, 0o600)):
        old = os.umask(mask)
        try:
            js.save(small_fit, tmp_path / f"f{mask}.json")
            js._io.write_json(tmp_path / f"s{mask}.json", {"a": 1})
        finally:
            os.umask(old)
        assert (os.stat(tmp_path / f"f{mask}.json").st_mode & 0o777) == mode
        assert (os.stat(tmp_path / f"s{mask}.json").st_mode & 0o777) == mode


_KILLED_SAVE = """
import os, sys, time
import jaxscale as js
from jaxscale import _io
fit = js.load(sys.argv[1])
def stall(fd):
    print("writing", flush=True)
    time.sleep(60)
_io.os.fsync = stall
js.save(fit, sys.argv[1])
"""


def test_kill_9_during_save_leaves_the_old_file_and_the_next_load_cleans_up(small_fit, tmp_path):
    p = tmp_path / "fit.json"
    js.save(small_fit, p)
    before = p.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_SAVE, str(p)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"  # mid-save: the temporary file is written
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    stale = [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    assert len(stale) == 1 and stale[0].startswith(f".fit.json.{proc.pid}.")
    assert p.read_bytes() == before
    back = js.load(p)  # the old file loads, the stale temporary file is removed
    assert back.params == small_fit.params
    assert sorted(os.listdir(tmp_path)) == ["fit.json"]


# ----------------------------------------------------------------------------------------------
# 3. Data hygiene
# ----------------------------------------------------------------------------------------------
def test_duplicated_column_names_are_refused(tmp_path):
    import pandas as pd

    p = tmp_path / "dup.csv"
    p.write_text("x,loss,loss\n1,2,3\n2,3,4\n3,4,5\n")
    with pytest.raises(ValueError, match=r"duplicated column name\(s\) 'loss' \(columns 2, 3\)"):
        js.fit("power_law", p, progress=False)
    frame = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["x", "loss", "loss"])
    with pytest.raises(ValueError, match="duplicated column name"):
        js.fit("power_law", frame, progress=False)


def test_semicolon_csv_is_read(tmp_path):
    from jaxscale._data import as_frame

    p = tmp_path / "semi.csv"
    p.write_text("x;loss\n1;2.5\n10;1.5\n100;1.2\n")
    frame = as_frame(p)
    assert list(frame.columns) == ["x", "loss"] and frame["loss"].tolist() == [2.5, 1.5, 1.2]
    tab = tmp_path / "tab.csv"
    tab.write_text("x\tloss\n1\t2.5\n10\t1.5\n")
    assert list(as_frame(tab).columns) == ["x", "loss"]


def test_parse_errors_name_the_row_and_value(tmp_path):
    p = tmp_path / "thousands.csv"
    p.write_text('x,loss\n1,2.5\n10,1.5\n"1,000",1.2\n')
    with pytest.raises(ValueError, match=r"column 'x' \(input x\) has 1 non-numeric value\(s\), first '1,000' at row 2 "
                                         r"\(a thousands separator"):
        js.fit("power_law", p, progress=False)


def test_grouped_fit_warnings_are_summarised_and_name_the_groups():
    x = np.tile(np.logspace(0, 3, 4), 12)
    g = np.repeat([f"run{i}" for i in range(12)], 4)
    y = 3.0 * x ** -0.4 * np.exp(0.01 * np.random.default_rng(0).standard_normal(x.size))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = js.fit("power_law", {"x": x, "loss": y, "g": g}, group="g", solver="adam", n_steps=1, starts="halton",
                     n_starts=2, progress=False)
    conv = [w for w in caught if issubclass(w.category, js.ConvergenceWarning)]
    n_bad = sum(not f.converged for f in res.fits.values())
    assert n_bad > 10  # one Adam step does not converge
    assert len(conv) == 1  # one line for all the groups
    msg = str(conv[0].message)
    assert f"{n_bad} of 12 groups (g)" in msg and "run0" in msg and "more)" in msg
    with pytest.raises(js.ConvergenceError, match="of 12 groups"):
        js.fit("power_law", {"x": x, "loss": y, "g": g}, group="g", solver="adam", n_steps=1, starts="halton",
               n_starts=2, progress=False, on_failure="raise")


def test_groups_are_fitted_by_segment_like_one_by_one():
    rng = np.random.default_rng(1)
    x = rng.permutation(np.tile(np.logspace(0, 3, 5), 3))
    g = np.array(["b", "a", "c"] * 5)
    y = 2.0 * x ** -0.3 * np.exp(0.01 * rng.standard_normal(x.size))
    grouped = js.fit("power_law", {"x": x, "loss": y, "g": g}, group="g", loss="squared_log", progress=False)
    assert list(grouped.fits) == ["b", "a", "c"]  # order of first appearance
    for k, one in grouped.fits.items():
        m = g == k
        alone = js.fit("power_law", {"x": x[m], "loss": y[m]}, loss="squared_log", progress=False)
        np.testing.assert_allclose(one.params["alpha"], alone.params["alpha"], rtol=1e-9)
        np.testing.assert_array_equal(one.data.inputs["x"], x[m])  # the group's rows, in their order


# ----------------------------------------------------------------------------------------------
# 4. No false certainty
# ----------------------------------------------------------------------------------------------
def test_constant_targets_warn_naming_the_unidentified_parameters():
    x = np.logspace(1, 4, 12)
    data = {"x": x, "loss": np.full(12, 2.5)}
    with pytest.warns(js.IdentifiabilityWarning, match=r"do not identify parameter\(s\) E, A of the saturating"):
        res = js.fit("saturating_power_law", data, progress=False)
    assert res.unidentified == ("E", "A")
    with pytest.raises(js.ConvergenceError, match="do not identify"):
        js.fit("saturating_power_law", data, progress=False, on_failure="raise")
    noisy = {"x": x, "loss": (1.5 + 20 * x ** -0.45) * np.exp(0.01 * np.random.default_rng(0).standard_normal(12))}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert js.fit("saturating_power_law", noisy, progress=False).unidentified == ()


def test_small_exact_huber_fits_are_converged():
    """4-point power-law groups under Huber(1e-3) with 1% noise: the optimum puts points on the loss's
    kink and the Hessian is singular there, but the gradient is zero relative to the points' pulls."""
    rng = np.random.default_rng(0)
    n_groups = 60
    x = np.tile(np.logspace(0, 3, 4), n_groups)
    g = np.repeat(np.arange(n_groups), 4)
    y = np.repeat(rng.uniform(1, 10, n_groups), 4) * x ** -np.repeat(rng.uniform(0.1, 0.6, n_groups), 4)
    y = y * np.exp(0.01 * rng.standard_normal(x.size))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning
        res = js.fit("power_law", {"x": x, "loss": y, "g": g}, group="g", plan="grid", progress=False)
    assert all(f.converged for f in res.fits.values())
    bad = js.fit("power_law", {"x": x, "loss": y, "g": g}, group="g", plan="grid", solver="adam", n_steps=1,
                 progress=False, on_failure="ignore")
    assert sum(not f.converged for f in bad.fits.values()) > n_groups // 2  # the test can still say no


def test_two_resamples_give_no_silent_interval(small_fit):
    with pytest.warns(UserWarning, match="no interval: .*asked for 2 resamples"):
        boot = js.bootstrap(small_fit, 2, progress=False, on_failure="ignore")
    with pytest.raises(ValueError, match="valid"):
        boot.interval()
    with pytest.warns(UserWarning, match="no interval: .*asked for 2 resamples"):
        boot = js.bootstrap(small_fit, 2, progress=False, on_failure="ignore")


# ----------------------------------------------------------------------------------------------
# 6. Fuzz: inputs and command-line argument combinations (hypothesis, few examples for CI time)
# ----------------------------------------------------------------------------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(st.integers())
def test_fuzz_any_int_seed(seed):
    s = seed_int(seed)
    assert 0 <= s < SEED_BOUND and s == seed_int(seed)


class _Reached(Exception):
    """Validation passed and the CLI asked for a fit."""


_FLAGS = st.fixed_dictionaries({}, optional={
    "--level": st.sampled_from(["0.95", "0.5", "1.5", "0", "-1", "nan", "abc"]),
    "--bootstrap": st.sampled_from(["0", "10", "-1", "1e3", "x"]),
    "--method": st.sampled_from(["point", "nuts", "bayes"]),
    "--chains": st.sampled_from(["1", "0", "-2", "4"]),
    "--warmup": st.sampled_from(["1", "-5", "10"]),
    "--samples": st.sampled_from(["0", "5"]),
    "--seed": st.sampled_from(["0", "-7", str(2 ** 70), "1.5"]),
    "--predict": st.sampled_from(["N=1e9,D=2e10", "N=1e9", "N=-1,D=1", "N=a,D=1", "Q=1"]),
    "--starts": st.sampled_from(["grid", "halton:8", "halton:0", "sobol:3", "random:x"]),
    "--delta": st.sampled_from(["1e-3", "-1", "inf"]),
    "--loss": st.sampled_from(["huber", "squared_log"]),
    "--scheme": st.sampled_from(["iid", "residual", "cluster"]),
    "--cluster": st.sampled_from(["C", "nope"]),
    "--json": st.sampled_from(["OUT/ok.json", "/nonexistent/x.json", "OUT"]),
    "--group": st.sampled_from(["C"]),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flags=_FLAGS)
def test_fuzz_cli_arguments_one_line_or_validated(csv, tmp_path, capsys, flags):
    argv = ["fit", str(csv), "--no-progress"]
    for k, v in flags.items():
        argv += [k, v.replace("OUT", str(tmp_path))]

    def reached(*a, **k):
        raise _Reached

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_cli, "fit", reached)
        try:
            rc = _cli.main(argv)
        except _Reached:
            return  # every argument was valid: the fit was next
        except SystemExit as exc:  # argparse: a value of the wrong type or choice
            rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2, (argv, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, (argv, err)


_CELL = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3),
                  st.sampled_from(["", "abc", "1,000", "1e3", " 2 "]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_CELL, _CELL), min_size=1, max_size=8))
def test_fuzz_data_is_valid_or_refused_by_name(rows):
    import pandas as pd

    from jaxscale._data import load_data

    frame = pd.DataFrame(rows, columns=["x", "loss"])
    try:
        ds = load_data(frame, js.power_law)
    except ValueError as err:
        assert "'x'" in str(err) or "'loss'" in str(err) or "rows" in str(err), err
        return
    assert np.all(np.isfinite(ds.inputs["x"])) and np.all(ds.inputs["x"] > 0) and np.all(ds.y > 0)


# ----------------------------------------------------------------------------------------------
# 5. Large data sets: starts chosen on a subsample, polished on all rows
# ----------------------------------------------------------------------------------------------
def test_large_data_default_plan_says_what_it_did(monkeypatch):
    from jaxscale import _fit

    x = np.logspace(0, 4, 400)
    y = (1.5 + 20.0 * x ** -0.45) * np.exp(0.01 * np.random.default_rng(2).standard_normal(400))
    data = {"x": x, "loss": y}
    full = js.fit("saturating_power_law", data, progress=False)
    monkeypatch.setattr(_fit, "LARGE_DATA_ROWS", 300)
    monkeypatch.setattr(_fit, "SUBSAMPLE_ROWS", 80)
    with pytest.warns(js.PlanWarning, match="fitted on a random 80-row subsample, the best .* polished on all 400"):
        big = js.fit("saturating_power_law", data, progress=False)
    assert big.converged and big.n_starts <= _fit.POLISH_STARTS and big.data.n == 400
    for k, v in full.params.items():
        assert big.params[k] == pytest.approx(v, rel=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", js.PlanWarning)
        js.fit("saturating_power_law", data, starts="halton", n_starts=8, progress=False)  # user's starts: as asked
