"""Issue 7.3: saved results load back bit-for-bit, are checked on load, and saves are atomic.

Shapes match tests/test_reliability.py (16 points, the saturating law's grid; 16 resamples with
one start each), so in one session the solvers compile once."""

import dataclasses
import json
import os

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import jaxscale as js
from jaxscale import _arviz
from jaxscale import _io as jio
from jaxscale._cli import main

X = np.logspace(0, 5, 16)
Y = (1.5 + 20.0 * X ** -0.45) * np.exp(0.01 * np.random.default_rng(7).standard_normal(16))
FRAME = pd.DataFrame({"x": X, "loss": Y})
GRID = {"x": np.logspace(5, 8, 4)}


@pytest.fixture(scope="module")
def fit():
    return js.fit("saturating_power_law", FRAME, progress=False)


@pytest.fixture(scope="module")
def boot(fit):
    return js.bootstrap(fit, 16, n_basins=0, seed=11, bca=True, progress=False, on_failure="ignore", min_draws=8)


@pytest.fixture(scope="module")
def post(fit):
    """A PosteriorResult assembled exactly as bayes_fit assembles one, from stand-in draws.

    A real NUTS run costs a minute of compile time on the CI machine; the file format does not
    depend on where the numbers came from (test_cli.py runs NUTS end to end)."""
    rng = np.random.default_rng(3)
    chains, draws = 2, 50
    by_chain = {k: v + 0.01 * abs(v) * rng.standard_normal((chains, draws)) for k, v in fit.params.items()}
    by_chain["sigma"] = np.abs(0.01 + 0.001 * rng.standard_normal((chains, draws)))
    ll = rng.standard_normal((chains, draws, 16))
    idata = _arviz.inference_data(
        posterior=by_chain, log_likelihood={"obs": ll}, posterior_predictive={"obs": ll + np.log(Y)},
        observed={"obs": np.log(Y)}, sample_stats={"diverging": rng.random((chains, draws)) < 0.02},
        constant_data={"x": X})
    flat = {k: v.reshape(-1) for k, v in by_chain.items()}
    summary = _arviz.summary(idata, list(by_chain))
    n_div = int(np.asarray(idata.sample_stats["diverging"].values).sum())
    return js.PosteriorResult(fit, flat, idata, summary, n_div, "gaussian", chains, 5, 0.9)


def assert_fits_identical(a, b):
    assert a.law is b.law and a.loss == b.loss and a.solver == b.solver and a.n_steps == b.n_steps
    assert a.params == b.params and a.objective == b.objective and a.converged == b.converged
    assert a.seed == b.seed and a.dtype is b.dtype and a.data_hash == b.data_hash
    np.testing.assert_array_equal(a.u, b.u)
    for f in dataclasses.fields(a.starts):
        x, y = getattr(a.starts, f.name), getattr(b.starts, f.name)
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    for k in a.data.inputs:
        np.testing.assert_array_equal(a.data.inputs[k], b.data.inputs[k])
    np.testing.assert_array_equal(a.data.y, b.data.y)
    np.testing.assert_array_equal(a.data.weights, b.data.weights)
    assert a.data.target == b.data.target and a.data.columns == b.data.columns


def test_fit_round_trip_bit_for_bit(fit, tmp_path):
    p = tmp_path / "fit.json"
    assert js.save(fit, p) == str(p)
    doc = json.loads(p.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    meta = doc["meta"]
    assert meta["law"] == "saturating_power_law" and meta["law_version"] == "1"
    assert meta["data_sha256"] == fit.data_hash and len(fit.data_hash) == 64
    assert meta["seed"] == 0 and meta["jaxscale_version"] == js.__version__
    assert {"jax_version", "device_kind", "backend", "numpy_version"} <= set(meta)
    back = js.load(p)
    assert_fits_identical(fit, back)
    np.testing.assert_array_equal(back.predict(GRID), fit.predict(GRID))
    pd.testing.assert_frame_equal(back.table(), fit.table())
    assert back.to_dict() == fit.to_dict()
    # saving the loaded result gives the same bytes: nothing is lost or rounded
    js.save(back, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == p.read_bytes()


def test_non_finite_and_float32_values_round_trip(fit, tmp_path):
    starts = dataclasses.replace(fit.starts, objective=np.r_[np.nan, np.inf, -np.inf, fit.starts.objective[3:]])
    odd = dataclasses.replace(fit, starts=starts, dtype=np.float32,
                              u=fit.u.astype(np.float32))
    js.save(odd, tmp_path / "odd.json")
    back = js.load(tmp_path / "odd.json")
    np.testing.assert_array_equal(back.starts.objective, starts.objective)
    assert back.u.dtype == np.float32 and back.dtype is np.float32
    np.testing.assert_array_equal(back.u, odd.u)


def test_bootstrap_round_trip_bit_for_bit(boot, tmp_path):
    p = tmp_path / "boot.nc"
    js.save(boot, p)
    back = js.load(p)
    assert isinstance(back, js.BootstrapResult)
    assert_fits_identical(boot.fit, back.fit)
    for k in boot.draws:
        np.testing.assert_array_equal(back.draws[k], boot.draws[k])
        np.testing.assert_array_equal(back.jackknife[k], boot.jackknife[k])
    np.testing.assert_array_equal(back.converged, boot.converged)
    assert back.converged.dtype == bool
    np.testing.assert_array_equal(back.objective, boot.objective)
    assert (back.scheme, back.seed, back.level, back.starts_per_resample) == \
        (boot.scheme, boot.seed, boot.level, boot.starts_per_resample)
    np.testing.assert_array_equal(back.interval(), boot.interval())
    np.testing.assert_array_equal(back.interval(method="bca"), boot.interval(method="bca"))
    pd.testing.assert_frame_equal(back.table(), boot.table())
    pd.testing.assert_frame_equal(js.predict(back, GRID), js.predict(boot, GRID))
    with xr.open_dataset(p, engine="h5netcdf") as xds:
        meta = json.loads(xds.attrs["jaxscale"])["meta"]
    assert meta["seed"] == 11 and meta["fit_seed"] == 0 and meta["data_sha256"] == boot.fit.data_hash


def test_loaded_fit_bootstraps_to_the_same_draws(fit, boot, tmp_path):
    js.save(fit, tmp_path / "f.json")
    again = js.bootstrap(js.load(tmp_path / "f.json"), 16, n_basins=0, seed=11, bca=True, progress=False,
                         on_failure="ignore")
    for k in boot.draws:
        np.testing.assert_array_equal(again.draws[k], boot.draws[k])
        np.testing.assert_array_equal(again.jackknife[k], boot.jackknife[k])


def test_posterior_round_trip_bit_for_bit(post, tmp_path):
    p = tmp_path / "post.nc"
    js.save(post, p)
    assert "jaxscale" not in post.idata.groups()  # saving does not touch the result
    back = js.load(p)
    assert isinstance(back, js.PosteriorResult)
    assert_fits_identical(post.fit, back.fit)
    assert list(back.draws) == list(post.draws)
    for k in post.draws:
        np.testing.assert_array_equal(back.draws[k], post.draws[k])
    assert back.idata.groups() == post.idata.groups()
    for g in post.idata.groups():
        xr.testing.assert_identical(getattr(back.idata, g), getattr(post.idata, g))
    pd.testing.assert_frame_equal(back.diagnostics, post.diagnostics, check_exact=True)
    assert (back.n_divergences, back.likelihood, back.chains, back.seed, back.level) == \
        (post.n_divergences, post.likelihood, post.chains, post.seed, post.level)
    np.testing.assert_array_equal(back.interval(), post.interval())
    pd.testing.assert_frame_equal(back.table(), post.table())
    # still a plain InferenceData file for ArviZ users
    assert _arviz.read_netcdf(str(p)).posterior["alpha"].shape == (2, 50)


def test_custom_law_needs_law_and_matching_version(fit, tmp_path):
    def make(version):
        return js.law(name="my_sat", inputs=("x",), params=js.saturating_power_law.params, version=version,
                      log_fn=js.saturating_power_law.log_fn)(js.saturating_power_law.fn)

    mine = make("1")
    p = tmp_path / "mine.json"
    js.save(dataclasses.replace(fit, law=mine), p)
    with pytest.raises(ValueError, match="law 'my_sat', which is not registered; pass it as load"):
        js.load(p)
    back = js.load(p, law=mine)
    assert back.law is mine
    np.testing.assert_array_equal(back.predict(GRID), fit.predict(GRID))
    with pytest.raises(ValueError, match="version '2' now but the result was saved with version '1'"):
        js.load(p, law=make("2"))
    with pytest.raises(ValueError, match="is of law 'my_sat', not 'saturating_power_law'"):
        js.load(p, law="saturating_power_law")


def _only(tmp_path, name):
    assert sorted(os.listdir(tmp_path)) == [name], os.listdir(tmp_path)


def test_interrupted_json_save_keeps_the_old_file(fit, tmp_path, monkeypatch):
    p = tmp_path / "fit.json"
    js.save(fit, p)
    before = p.read_bytes()
    newer = dataclasses.replace(fit, params={**fit.params, "E": 9.0})

    def crash(fd):
        raise KeyboardInterrupt  # after the new bytes are written, before the rename

    monkeypatch.setattr(jio.os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        js.save(newer, p)
    monkeypatch.undo()
    assert p.read_bytes() == before
    _only(tmp_path, "fit.json")
    assert_fits_identical(js.load(p), fit)


def test_interrupted_netcdf_save_keeps_the_old_file(boot, tmp_path, monkeypatch):
    p = tmp_path / "boot.nc"
    js.save(boot, p)
    before = p.read_bytes()

    def half_written(self, path, **kw):
        with open(path, "wb") as fh:
            fh.write(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
        raise OSError("No space left on device")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", half_written)
    with pytest.raises(OSError, match="No space"):
        js.save(boot, p)
    monkeypatch.undo()
    assert p.read_bytes() == before
    _only(tmp_path, "boot.nc")
    np.testing.assert_array_equal(js.load(p).draws["alpha"], boot.draws["alpha"])


def test_damaged_foreign_and_missing_files(fit, tmp_path):
    p = tmp_path / "fit.json"
    js.save(fit, p)
    doc = json.loads(p.read_text())
    doc["data"]["y"]["data"][0] *= 1.0000001
    p.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="sha256: the file is damaged"):
        js.load(p)
    p.write_text("{not json")
    with pytest.raises(ValueError, match="bad JSON"):
        js.load(p)
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a saved jaxscale result"):
        js.load(tmp_path / "x.csv")
    with pytest.raises(ValueError, match="result file not found"):
        js.load(tmp_path / "nope.json")
    xr.Dataset({"a": ("n", np.arange(3.0))}).to_netcdf(tmp_path / "other.nc", engine="h5netcdf")
    with pytest.raises(ValueError, match="netCDF file but not a saved jaxscale result"):
        js.load(tmp_path / "other.nc")
    with pytest.raises(ValueError, match="save takes a FitResult"):
        js.save({"not": "a result"}, tmp_path / "x.json")
    js.save(js.GroupedFit("g", {"a": fit}), tmp_path / "g.json")  # grouped fits: one file
    assert js.load(tmp_path / "g.json")["a"].params == fit.params


def test_cli_save_loads_back(fit, tmp_path, capsys):
    csv = tmp_path / "runs.csv"
    FRAME.to_csv(csv, index=False)
    out = tmp_path / "cli.json"
    assert main(["fit", str(csv), "--law", "saturating_power_law", "--save", str(out), "--no-progress"]) == 0
    back = js.load(out)
    assert_fits_identical(back, js.fit("saturating_power_law", csv, progress=False))
    assert abs(back.params["alpha"] - fit.params["alpha"]) < 1e-9
