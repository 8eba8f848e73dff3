"""Derived quantities (jaxscale._derive), objectives' asymmetry and reduction, and the command-line
recipes of issue 12 (--shift, --fix, --tie, --derive, the NUTS likelihood following --loss)."""

import json
import warnings

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import jaxscale as js
from jaxscale._cli import main
from jaxscale._derive import compile_expression, parse_derived

SOLVER = js.get_solver("lm", polish_steps=0)


@pytest.fixture(scope="module")
def small():
    """A saturating power law with 1% noise, bootstrapped (small: one compile each)."""
    rng = np.random.default_rng(0)
    x = np.logspace(1, 5, 16)
    y = (1.5 + 30.0 * x ** -0.4) * np.exp(0.01 * rng.standard_normal(16))
    fit = js.fit("saturating_power_law", {"x": x, "loss": y}, loss="squared_log", solver=SOLVER, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", js.BootstrapWarning)
        boot = js.bootstrap(fit, 64, seed=0, progress=False, min_draws=20)
    return fit, boot


def test_derive_expression_function_and_draws(small):
    fit, boot = small
    table = js.derive(boot, {"ratio": "alpha/(1+alpha)", "f": lambda p: jnp.log(p["A"]) * p["alpha"]}, level=0.9)
    ratio = lambda p: p["alpha"] / (1 + p["alpha"])  # noqa: E731
    assert table.loc["ratio", "value"] == pytest.approx(ratio(fit.params), rel=1e-12)
    draws = boot.samples(ratio)
    assert table.loc["ratio", "se"] == pytest.approx(np.std(draws, ddof=1), rel=1e-12)
    lo, hi = np.quantile(draws, [0.05, 0.95])
    assert (table.loc["ratio", "lo"], table.loc["ratio", "hi"]) == pytest.approx((lo, hi), rel=1e-12)
    assert table.loc["f", "value"] == pytest.approx(np.log(fit.params["A"]) * fit.params["alpha"], rel=1e-12)
    point = js.derive(fit, "r=alpha/(1+alpha); E")
    assert list(point.columns) == ["value"] and point.loc["E", "value"] == pytest.approx(fit.params["E"])


@pytest.mark.parametrize("text", ["__import__('os')", "alpha.real", "A[0]", "foo + 1", "(lambda: 1)()",
                                  "open('x')", "alpha if A else E", "log(x=alpha)", "'a'"])
def test_expressions_outside_the_whitelist_are_refused(text):
    with pytest.raises(ValueError):
        compile_expression(text, ["E", "A", "alpha"])


def test_builtins_need_their_parameters():
    fns = parse_derived(["a", "b", "tokens_per_param@1e24"], js.chinchilla)
    p = dict(js.EPOCH_PARAMS)
    with js.precision():
        a, b, tpp = (float(fns[k](p)) for k in ("a", "b", "tokens_per_param@1e24"))
        n_opt, d_opt = (float(v) for v in js.chinchilla.optimal_allocation(p, 1e24))
    assert a == pytest.approx(p["beta"] / (p["alpha"] + p["beta"])) and a + b == pytest.approx(1.0)
    assert tpp == pytest.approx(d_opt / n_opt, rel=1e-10)
    with pytest.raises(ValueError, match="unknown name 'beta'"):
        parse_derived("a", js.saturating_power_law)
    with pytest.raises(ValueError, match="N and D"):
        parse_derived("N_opt@1e24", js.saturating_power_law)


def test_asymmetric_and_mean_objectives():
    r = np.array([-0.5, -1e-4, 0.0, 1e-4, 0.5])
    sym, asym = js.huber(1e-3), js.huber(1e-3, asymmetry=3.0)
    with js.precision():
        np.testing.assert_allclose(np.asarray(asym.rho(r)), np.asarray(sym.rho(r)) * [3.0, 3.0, 1.0, 1.0, 1.0])
        np.testing.assert_allclose(np.asarray(asym.psi(r)), np.asarray(sym.psi(r)) * [3.0, 3.0, 1.0, 1.0, 1.0])
        mean = js.squared_log(reduction="mean")
        w = np.array([1.0, 2.0, 1.0, 0.0, 1.0])
        y, f = np.zeros(5), -r
        assert float(mean.value(y, f, w)) == pytest.approx(float(js.squared_log().value(y, f, w)) / w.sum())
    assert "asymmetry=3" in asym.name and "mean" in mean.name
    with pytest.raises(ValueError, match="asymmetry"):
        js.huber(1e-3, asymmetry=0.0)
    with pytest.raises(ValueError, match="reduction"):
        js.squared_log(reduction="median")
    # an over-estimate penalty pushes the fit below the data: more points above the curve
    rng = np.random.default_rng(1)
    x = np.logspace(1, 4, 30)
    y = 5.0 * x ** -0.3 * np.exp(0.05 * rng.standard_normal(30))
    sym_fit = js.fit("power_law", {"x": x, "loss": y}, loss=js.squared_log(), solver=SOLVER, progress=False)
    low_fit = js.fit("power_law", {"x": x, "loss": y}, loss=js.squared_log(asymmetry=10.0), solver=SOLVER,
                     progress=False)
    above = lambda f: int(np.sum(y > f.predict({"x": x})))  # noqa: E731
    assert above(low_fit) > above(sym_fit)
    # the mean reduction has the same optimum as the sum
    mean_fit = js.fit("power_law", {"x": x, "loss": y}, loss=js.squared_log(reduction="mean"), solver=SOLVER,
                      progress=False)
    assert mean_fit.params == pytest.approx(sym_fit.params, rel=1e-8)


def test_likelihood_follows_the_loss():
    from jaxscale._bayes import likelihood_for

    assert likelihood_for(js.huber(1e-4)) == ("huber", 1e-4)
    assert likelihood_for(js.squared_log())[0] == "gaussian"
    with pytest.raises(ValueError, match="likelihood"):
        likelihood_for(js.huber(1e-3, asymmetry=2.0))


def test_cli_fix_tie_derive_shift(tmp_path, capsys):
    rng = np.random.default_rng(2)
    x = np.logspace(1, 5, 16)
    y = (1.5 + 30.0 * x ** -0.4) * np.exp(0.01 * rng.standard_normal(16))
    path = tmp_path / "d.csv"
    pd.DataFrame({"x": x, "loss": y}).to_csv(path, index=False)
    out = tmp_path / "o.json"
    rc = main(["fit", str(path), "--law", "saturating_power_law", "--loss", "squared_log", "--fix", "E=1.5",
               "--bound", "alpha=0.1:0.9", "--derive", "k=A*alpha", "--no-progress", "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    payload = json.loads(out.read_text())
    assert payload["params"]["E"] == 1.5 and payload["constraints"] == {"E": "fixed", "alpha": "in [0.1, 0.9]"}
    derived = {row["quantity"]: row for row in payload["derived"]}
    assert derived["k"]["value"] == pytest.approx(payload["params"]["A"] * payload["params"]["alpha"])
    assert "fixed" in text and "derived quantities" in text and "health:" in text
    # --shift S fits target + S through the shifted law
    rc = main(["fit", str(path), "--law", "power_law", "--loss", "squared_log", "--shift", "1", "--no-progress",
               "--json", str(out)])
    assert rc == 0
    shifted = json.loads(out.read_text())
    direct = js.fit(js.laws.make_shifted(js.power_law, 1.0), {"x": x, "loss": y + 1.0}, loss="squared_log",
                    progress=False)
    assert shifted["law"] == direct.law.name
    assert shifted["params"] == pytest.approx(direct.params, rel=1e-8)
    assert main(["fit", str(path), "--law", "power_law", "--tie", "alpha=zeta", "--no-progress"]) == 2


@pytest.mark.slow  # NUTS on the 240 Epoch points (~1-2 min on 2 cores)
def test_cli_nuts_huber_intervals_contain_the_point_fit(epoch_df, tmp_path, capsys):
    """Without --likelihood the NUTS likelihood follows --loss huber (same delta), so every 95%
    credible interval contains the Huber point fit, and the table says so."""
    path = tmp_path / "epoch.csv"
    epoch_df[["N", "D", "loss"]].to_csv(path, index=False)
    out = tmp_path / "nuts.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = main(["fit", str(path), "--method", "nuts", "--loss", "huber", "--starts", "halton:64", "--chains", "2",
                   "--warmup", "300", "--samples", "300", "--no-progress", "--on-failure", "ignore", "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    payload = json.loads(out.read_text())
    assert payload["likelihood"] == "huber" and payload["likelihood_delta"] == 1e-3
    assert payload["likelihood_matches_point"] and "huber(delta=0.001) likelihood" in text
    for k, (lo, hi) in payload["intervals"].items():
        assert lo <= payload["params"][k] <= hi, (k, lo, payload["params"][k], hi)
