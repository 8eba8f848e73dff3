import json
import subprocess
import sys

import pytest

import jaxscale as js
from jaxscale._cli import main


@pytest.fixture
def csv(tmp_path):
    p = tmp_path / "runs.csv"
    js.synthetic_chinchilla().rename(columns={"N": "params", "D": "tokens", "loss": "val_loss"}).to_csv(p, index=False)
    return p


def test_fit_prints_table_and_writes_json(csv, tmp_path, capsys):
    out = tmp_path / "fit.json"
    rc = main(["fit", str(csv), "--law", "chinchilla", "--inputs", "N=params,D=tokens", "--target", "val_loss",
               "--loss", "huber", "--delta", "1e-3", "--starts", "halton:64", "--json", str(out), "--no-progress"])
    assert rc == 0
    text = capsys.readouterr().out
    for name in ("E", "A", "B", "alpha", "beta"):
        assert name in text
    payload = json.loads(out.read_text())
    assert payload["law"] == "chinchilla"
    assert set(payload["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert payload["n_starts"] == 64 and 0 < payload["n_converged"] <= 64
    assert payload["objective"] > 0
    assert abs(payload["params"]["alpha"] - js.EPOCH_PARAMS["alpha"]) < 0.05


def test_grouped_cli_json(tmp_path, capsys):
    import pandas as pd

    a, b = js.synthetic_chinchilla(seed=1), js.synthetic_chinchilla(seed=2)
    p = tmp_path / "g.csv"
    pd.concat([a.assign(family="x"), b.assign(family="y")]).to_csv(p, index=False)
    out = tmp_path / "g.json"
    assert main(["fit", str(p), "--group", "family", "--starts", "halton:32", "--json", str(out), "--no-progress"]) == 0
    payload = json.loads(out.read_text())
    assert set(payload["groups"]) == {"x", "y"}
    assert payload["groups"]["x"]["n_points"] == 135


@pytest.mark.parametrize("args,msg", [
    (["--inputs", "N=nope,D=tokens"], "unknown column 'nope'"),
    (["--law", "gpt"], "unknown law 'gpt'"),
    (["--starts", "sobol:3"], "--starts"),
])
def test_cli_errors_are_one_line_without_traceback(csv, capsys, args, msg):
    rc = main(["fit", str(csv), "--inputs", "N=params,D=tokens", "--target", "val_loss", "--no-progress"] + args)
    err = capsys.readouterr().err
    assert rc == 2
    assert msg in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_demo_prints_intervals_and_allocation(capsys):
    assert main(["demo", "--bootstrap", "100", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "synthetic" in out and "lo 95%" in out and "N_opt" in out and "D_opt_hi" in out


def test_console_entry_point_is_installed():
    proc = subprocess.run([sys.executable, "-m", "jaxscale._cli", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "demo" in proc.stdout


def test_bootstrap_json_and_predict(csv, tmp_path, capsys):
    out = tmp_path / "b.json"
    rc = main(["fit", str(csv), "--inputs", "N=params,D=tokens", "--target", "val_loss", "--starts", "halton:64",
               "--bootstrap", "60", "--seed", "3", "--level", "0.9", "--predict", "N=1e9;7e10,D=2e10;1.4e12",
               "--json", str(out), "--no-progress"])
    assert rc == 0
    payload = json.loads(out.read_text())
    assert payload["n_resamples"] == 60 and 50 <= payload["n_resamples_converged"] <= 60
    for k in ("E", "A", "B", "alpha", "beta"):
        lo, hi = payload["intervals"][k]
        assert lo <= payload["params"][k] <= hi
        assert payload["se"][k] > 0
    assert len(payload["predictions"]) == 2
    assert "predictions" in capsys.readouterr().out


def test_optimal_command(csv, capsys):
    rc = main(["optimal", str(csv), "--inputs", "N=params,D=tokens", "--target", "val_loss", "--starts", "halton:64",
               "--compute", "1e24", "--bootstrap", "30", "--no-progress"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "N_opt" in text and "D_opt_hi" in text


def test_nuts_json_and_netcdf(tmp_path, capsys):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    x = np.logspace(1, 6, 30)
    p = tmp_path / "lc.csv"
    pd.DataFrame({"steps": x, "loss": (1.5 + 20 * x ** -0.45) * np.exp(0.02 * rng.standard_normal(30))}).to_csv(p, index=False)
    out, nc = tmp_path / "n.json", tmp_path / "post.nc"
    rc = main(["fit", str(p), "--law", "saturating_power_law", "--inputs", "x=steps", "--method", "nuts", "--chains", "2",
               "--warmup", "150", "--samples", "150", "--json", str(out), "--save-idata", str(nc), "--no-progress"])
    assert rc == 0
    payload = json.loads(out.read_text())
    assert set(payload["r_hat"]) == {"E", "A", "alpha"} and set(payload["ess_bulk"]) == {"E", "A", "alpha"}
    lo, hi = payload["intervals"]["alpha"]
    assert lo < 0.45 < hi
    from jaxscale import _arviz

    idata = _arviz.from_netcdf(str(nc))
    assert idata.posterior["alpha"].shape == (2, 150)


@pytest.mark.parametrize("args,msg", [
    (["--bootstrap", "10", "--scheme", "residual", "--cluster", "tokens"], "conflicts with --scheme residual"),
    (["--bootstrap", "10", "--method", "nuts"], "either --bootstrap or --method nuts"),
    (["--chains", "2"], "--chains only apply with --method nuts"),
    (["--loss", "squared_log", "--delta", "0.1"], "conflicts with --loss squared_log"),
    (["--cluster", "tokens"], "add --bootstrap N"),
    (["--bootstrap", "10", "--scheme", "cluster"], "--scheme cluster needs --cluster"),
])
def test_conflicting_options_are_errors(csv, capsys, args, msg):
    """Options that contradict each other stop the run before any fitting (exit 2, one line)."""
    rc = main(["fit", str(csv), "--inputs", "N=params,D=tokens", "--target", "val_loss", "--no-progress"] + args)
    err = capsys.readouterr().err
    assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1


def test_subcommand_registry_builds_the_parser():
    """Each registered subcommand is one parser; a new one is one register() line."""
    from jaxscale import _cli

    assert {"fit", "optimal", "backtest", "demo"} <= set(_cli.SUBCOMMANDS)
    _cli.register("hello", "say hello", lambda p: p.add_argument("--name", default="x"), lambda a: print(a.name) or 0)
    try:
        assert main(["hello", "--name", "jaxscale"]) == 0
    finally:
        del _cli.SUBCOMMANDS["hello"]


def test_grouped_bootstrap_save_plot_json_round_trip(tmp_path, capsys):
    """`jaxscale fit runs.csv --group family --bootstrap N --save g.nc --plot g.png --json g.json`:
    every group's resamples in one batch, one file that js.load reads back with equal numbers.
    (120 resamples here for the CI budget; the command is the same for 1000.)"""
    import numpy as np
    import pandas as pd

    a, b = js.synthetic_chinchilla(seed=1), js.synthetic_chinchilla(seed=2).iloc[:100]
    p = tmp_path / "runs.csv"
    pd.concat([a.assign(family="x"), b.assign(family="y")]).to_csv(p, index=False)
    nc, png, out = tmp_path / "g.nc", tmp_path / "g.png", tmp_path / "g.json"
    rc = main(["fit", str(p), "--group", "family", "--bootstrap", "120", "--starts", "halton:32", "--save", str(nc),
               "--plot", str(png), "--json", str(out), "--predict", "N=1e9,D=2e10", "--no-progress"])
    assert rc == 0 and png.stat().st_size > 0
    text = capsys.readouterr().out
    assert "== family = x" in text and "== family = y" in text and "lo 95%" in text
    payload = json.loads(out.read_text())
    assert set(payload["groups"]) == {"x", "y"} and payload["groups"]["y"]["n_points"] == 100
    assert [r["family"] for r in payload["predictions"]] == ["x", "y"]
    back = js.load(nc)
    assert back.column == "family" and list(back.results) == ["x", "y"]
    for k in ("x", "y"):
        assert back[k].n_resamples == 120 and back[k].fit.data.n == (135 if k == "x" else 100)
        lo, hi = payload["groups"][k]["intervals"]["alpha"]
        np.testing.assert_array_equal(back[k].interval("alpha"), [lo, hi])
    import pandas.testing as pdt

    pdt.assert_frame_equal(back.table(), js.load(nc).table())
