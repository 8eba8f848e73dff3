"""Backtests and prediction intervals on simulated data where the truth is known (small and fast)."""

import numpy as np
import pandas as pd
import pytest

import jaxscale as js

TRUTH = {"E": 1.5, "A": 20.0, "alpha": 0.45}
NOISE = 0.02


def _ladder(seed: int, reps: int = 4) -> pd.DataFrame:
    """A ladder of 12 scales over 4 decades, ``reps`` runs per scale, 2% log-normal scatter."""
    rng = np.random.default_rng(seed)
    x = np.repeat(np.logspace(2, 6, 12), reps)
    clean = TRUTH["E"] + TRUTH["A"] * x ** -TRUTH["alpha"]
    return pd.DataFrame({"x": x, "loss": clean * np.exp(NOISE * rng.standard_normal(x.shape[0]))})


@pytest.fixture(scope="module")
def right():
    return js.backtest("saturating_power_law", _ladder(0), along="x", ks=(2, 4), loss="squared_log",
                       method="bootstrap", n_resamples=100, progress=False)


def test_right_law_covers_near_nominal_and_is_not_flagged(right):
    t = right.table()
    o = t.loc["overall"]
    assert o["n_test"] == 4 * 2 + 4 * 4
    # 24 held-out predictions: the 90% band must cover most and miss few (binomial SE ~6%)
    assert 0.7 <= o["cover_90"] <= 1.0
    assert o["cover_50"] < o["cover_95"] or o["cover_95"] == 1.0
    assert not right.bias_flags["overall"]
    assert abs(o["bias"]) < 0.02
    assert "No systematic bias" in right.summary()
    assert t.attrs["band"].startswith("observation")
    # decades: runs above the cutoff lie beyond the largest fitted scale
    assert (right.runs["decades"] > 0).all()
    d = right.to_dict()
    assert set(d["table"]) == set(map(str, t.index))


def test_misspecified_law_shows_a_flagged_bias():
    bt = js.backtest("power_law", _ladder(0), along="x", ks=(2, 4), loss="squared_log", method="point",
                     progress=False)
    o = bt.table().loc["overall"]
    # a pure power law has no floor: fitted on the small runs it under-predicts the larger ones
    assert o["bias"] < -0.02
    assert bt.bias_flags["overall"]
    assert "SYSTEMATIC BIAS" in bt.summary() and "under-predicts" in bt.summary()


def test_expanding_cutoffs_and_callable_scale():
    df = _ladder(1, reps=1)
    bt = js.backtest("saturating_power_law", df, along=lambda f: f["x"] * 10.0, scheme="expanding", n_cutoffs=3,
                     loss="squared_log", progress=False)
    cuts = list(bt.cutoffs.index)
    assert cuts == sorted(cuts) and len(cuts) >= 2
    n_train = bt.cutoffs["n_train"].to_numpy()
    assert np.all(np.diff(n_train) > 0)  # windows expand
    assert bt.along == "scale"


def test_bad_arguments():
    df = _ladder(0, reps=1)
    with pytest.raises(ValueError, match="along"):
        js.backtest("saturating_power_law", df, along="nope")
    with pytest.raises(ValueError, match="method"):
        js.backtest("saturating_power_law", df, along="x", method="mcmc")
    with pytest.raises(ValueError, match="largest"):
        js.backtest("saturating_power_law", df, along="x", ks=(12,))
    with pytest.raises(ValueError, match="> 0"):
        js.backtest("saturating_power_law", df.assign(s=-1.0), along="s")


def test_predict_observation_band_is_wider_than_mean_band(right):
    boot = right.results[right.cutoffs.index[0]]
    x = {"x": np.array([1e6, 1e7])}
    mean = js.predict(boot, x, level=0.9)
    obs = js.predict(boot, x, level=0.9, kind="observation")
    assert mean.attrs["band"] == "mean 90%" and obs.attrs["band"] == "observation 90%"
    np.testing.assert_allclose(mean["prediction"], obs["prediction"])
    assert np.all(obs["hi"] - obs["lo"] > mean["hi"] - mean["lo"])
    # the observation band adds the residual scale: its log half-width is at least z_0.95 * scale
    scale, how = js.residual_scale(boot.fit)
    assert "log space" in how and 0.5 * NOISE < scale < 2 * NOISE
    # (60 draws: the quantiles of the band are noisy to ~20%)
    assert np.all(np.log(obs["hi"] / obs["lo"]) / 2 > 0.75 * 1.645 * scale)
    # a point fit: the band from the residual scale alone, labelled so
    pt = js.predict(boot.fit, x, level=0.9, kind="observation")
    assert "residual scale only" in pt.attrs["band"]
    np.testing.assert_allclose(np.log(pt["hi"] / pt["prediction"]), 1.6448536 * scale, rtol=1e-6)
    with pytest.raises(ValueError, match="kind"):
        js.predict(boot, x, kind="new")


@pytest.mark.slow  # two NUTS fits (~25 s on 2 cores)
def test_compare_laws_by_backtest_reports_both_rankings():
    df = _ladder(2, reps=2)
    t = js.compare_laws(["saturating_power_law", "power_law"], df, by="backtest", scale="x", chains=1, warmup=60,
                        samples=60, progress=False)
    assert list(t.index)[0] == "saturating_power_law"  # the right law extrapolates best
    assert list(t["backtest_rank"]) == [1, 2]
    assert set(t["loo_rank"]) == {1, 2}
    assert t.loc["power_law", "backtest_bias"] < 0
    assert "PSIS-LOO" in t.attrs["rankings"]
    assert t["holdout_converged"].dtype == bool and set(t["holdout_status"]) <= {"ok"} | set(t["holdout_status"])
    assert all(isinstance(v, str) and v for v in t["holdout_status"])  # the hold-out fit's status, reported
    with pytest.raises(ValueError, match="by"):
        js.compare_laws(["power_law"], df, by="aic")


def test_cli_backtest_and_plot(tmp_path, capsys):
    from jaxscale._cli import main

    df = _ladder(3, reps=1).rename(columns={"x": "x_runs"})
    df["tokens"] = df["x_runs"] * 2.0
    csv = tmp_path / "runs.csv"
    df.to_csv(csv, index=False)
    out = tmp_path / "bt.json"
    png = tmp_path / "bt.png"
    rc = main(["backtest", str(csv), "--law", "saturating_power_law", "--inputs", "x=x_runs", "--along", "tokens/2",
               "--ks", "2,3", "--method", "point", "--loss", "squared_log", "--json", str(out), "--plot", str(png),
               "--no-progress"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "prediction intervals: observation" in text and "overall" in text and "cover_90" in text
    import json

    payload = json.loads(out.read_text())
    assert payload["along"] == "tokens/2" and payload["method"] == "point" and len(payload["table"]) == 3
    assert png.stat().st_size > 1000
    assert main(["backtest", str(csv), "--law", "saturating_power_law", "--along", "nope"]) == 2
