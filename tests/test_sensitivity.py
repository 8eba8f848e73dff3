"""Sensitivity tables (jaxscale._sensitivity): refits over losses x subsets, checked against
separate fits, and the `jaxscale sensitivity` command (same law, losses and solver as the API
test, so it reuses its compiled programs)."""

import json

import numpy as np
import pandas as pd
import pytest

import jaxscale as js
from jaxscale._cli import main
from jaxscale._sensitivity import parse_loss, parse_subset

@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(3)
    x = np.logspace(1, 5, 20)
    return pd.DataFrame({"x": x, "loss": (1.5 + 30.0 * x ** -0.4) * np.exp(0.01 * rng.standard_normal(20))})


def test_sensitivity_matches_separate_fits(frame):
    res = js.sensitivity("saturating_power_law", frame, losses=["squared_log", "huber:1e-2"],
                         subsets={"all": None, "big": "x > 100"}, derive={"r": "A*alpha"})
    assert list(res.table.index) == [("squared_log", "all"), ("squared_log", "big"),
                                     ("huber(delta=0.01)", "all"), ("huber(delta=0.01)", "big")]
    assert res.quantities == ("E", "A", "alpha", "r")
    big = frame[frame["x"] > 100]
    direct = js.fit("saturating_power_law", big, loss=js.huber(1e-2), progress=False)
    row = res.table.loc[("huber(delta=0.01)", "big")]
    for k, v in direct.params.items():
        assert row[k] == pytest.approx(v, rel=1e-6), k
    assert row["n_points"] == len(big) and row["r"] == pytest.approx(row["A"] * row["alpha"])
    spread = res.spread()
    v = res.table["alpha"].to_numpy()
    assert spread.loc["alpha", "range_rel"] == pytest.approx((v.max() - v.min()) / v[0])
    assert set(res.to_dict()) == {"fits", "spread"}


def test_parsers():
    assert parse_loss("huber:1e-4") == js.huber(1e-4) and parse_loss("squared_log") == js.squared_log()
    for bad in ("huber:x", "squared_log:1e-3", "l1"):
        with pytest.raises(ValueError):
            parse_loss(bad)
    f = pd.DataFrame({"N": [1e7, 1e9, 1e10], "D": [1e9, 1e9, 1e12]})
    np.testing.assert_array_equal(parse_subset("N > 1e8 & D >= 1e10")(f), [False, False, True])
    with pytest.raises(ValueError, match="column OP number"):
        parse_subset("N > D")


def test_cli_sensitivity(frame, tmp_path, capsys):
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "s.json"
    rc = main(["sensitivity", str(path), "--law", "saturating_power_law", "--losses", "squared_log", "huber:1e-2",
               "--subset", "big=x > 100", "--no-progress", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "how far each quantity moves" in text
    payload = json.loads(out.read_text())
    assert len(payload["fits"]) == 4 and set(payload["spread"]) == {"E", "A", "alpha"}
