"""Paired comparison of two recipes on shared bootstrap draws (jaxscale._compare) and the
`jaxscale compare` command."""

import json

import numpy as np
import pandas as pd
import pytest

import jaxscale as js
from jaxscale._cli import main
from jaxscale._compare import parse_recipe


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(3)
    x = np.logspace(1, 5, 20)
    return pd.DataFrame({"x": x, "loss": (1.5 + 30.0 * x ** -0.4) * np.exp(0.01 * rng.standard_normal(20))})


@pytest.mark.slow  # two laws x (fit, bootstrap) x (all points, training points): ~8 compiles (~60 s on 2 cores)
def test_paired_differences_use_shared_draws(frame):
    res = js.compare({"law": "saturating_power_law", "loss": "squared_log"},
                     {"law": "power_law", "loss": "squared_log"}, frame, n_resamples=40, holdout=0.2)
    # shared resamples: the same weights went into both bootstraps
    a, b = res.boot_a, res.boot_b
    assert a.seed == b.seed and a.n_resamples == b.n_resamples == 40
    both = a.converged & b.converged
    d = a.draws["alpha"][both] - b.draws["alpha"][both]
    row = res.differences.loc["alpha"]
    assert row["n_pairs"] == both.sum() and list(res.differences.index) == ["alpha"]  # the shared parameter
    assert row["se"] == pytest.approx(np.std(d, ddof=1), rel=1e-12)
    assert row["p_a_greater"] == pytest.approx(np.mean(d > 0))
    assert row["diff"] == pytest.approx(a.fit.params["alpha"] - b.fit.params["alpha"])
    h = res.heldout.iloc[0]
    assert h["n_test"] == 4 and h["n_train"] == 16 and 0 <= h["p_a_better"] <= 1
    assert json.dumps(res.to_dict())


@pytest.mark.slow  # reuses the programs of the test above when run with it
def test_a_wrong_law_loses_on_held_out_points(frame, tmp_path, capsys):
    """A power law without a floor fitted to data with one extrapolates worse: P(A better) = 1.
    (The recipes of the test above: its compiled programs are reused.)"""
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "c.json"
    rc = main(["compare", str(path), "--a", "law=saturating_power_law,loss=squared_log",
               "--b", "law=power_law,loss=squared_log", "--derive", "alpha", "--resamples", "40", "--no-progress",
               "--json", str(out)])
    assert rc == 0, capsys.readouterr().err
    payload = json.loads(out.read_text())
    assert payload["heldout"]["p_a_better"] == 1.0
    assert payload["heldout"]["rmsle_a"] < payload["heldout"]["rmsle_b"]
    assert "paired differences" in capsys.readouterr().out


def test_parse_recipe():
    r = parse_recipe("law=chinchilla,loss=huber,delta=1e-4,fix=E:1.69,tie=beta:alpha,bound=alpha:0.1:0.9")
    assert r == {"law": "chinchilla", "loss": "huber", "delta": 1e-4, "fixed": {"E": 1.69},
                 "tied": {"beta": "alpha"}, "bounds": {"alpha": (0.1, 0.9)}}
    with pytest.raises(ValueError, match="unknown recipe key"):
        parse_recipe("lw=chinchilla")
