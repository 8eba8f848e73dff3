"""Plots: a figure comes back, axes are log-scaled, the band is there and carries the right numbers.

One Chinchilla fit and bootstrap (256 Halton starts, 200 resamples) is shared by every test; it
has the same shapes as notebooks/01_chinchilla_refit.ipynb, so in one pytest process the JAX
compilations are shared with tests/test_notebooks.py.
"""

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.figure import Figure

import jaxscale as js
from jaxscale._cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def chin():
    df = js.synthetic_chinchilla(seed=0)
    res = js.fit("chinchilla", df, starts="halton", n_starts=256, progress=False)
    boot = js.bootstrap(res, 200, seed=0, progress=False)
    return df, res, boot


def _closed_form_opt(p, c):
    """Chinchilla's compute-optimal N, D (Hoffmann et al. Eq. 4) in NumPy, independent of jaxscale."""
    a, b = p["alpha"], p["beta"]
    g = (a * p["A"] / (b * p["B"])) ** (1 / (a + b))
    n = g * (c / 6) ** (b / (a + b))
    return n, c / (6 * n)


def _loss(p, n, d):
    return p["E"] + p["A"] / n ** p["alpha"] + p["B"] / d ** p["beta"]


def _bands(ax):
    return [c for c in ax.collections if isinstance(c, PolyCollection) and not isinstance(c, PathCollection)]


def _band_at(band, x):
    """Lower and upper edge of a fill_between band at its vertex nearest x (log scale)."""
    v = band.get_paths()[0].vertices
    v = v[np.isfinite(v).all(axis=1)]
    near = v[np.isclose(np.log(v[:, 0]), np.log(x), atol=1e-9)]
    return near[:, 1].min(), near[:, 1].max()


def test_plot_fit_band_and_extrapolation(chin, tmp_path):
    _, res, boot = chin
    out = tmp_path / "fit.png"
    fig = js.plot_fit(boot, extrapolate_to=1e24, save=str(out))
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size < 150_000
    # the curve is L_opt(C) of the point fit; at 1e24 it matches the closed form to 1e-9
    line = ax.get_lines()[0]
    xg, yg = line.get_xdata(), line.get_ydata()
    assert xg[-1] == pytest.approx(1e24, rel=1e-12) and xg[0] == pytest.approx(6e18 * 6 / 6, rel=1e-12)
    n, d = _closed_form_opt(res.params, 1e24)
    assert yg[-1] == pytest.approx(_loss(res.params, n, d), rel=1e-9)
    # the band is the 95% percentile interval of the bootstrap draws of L_opt(1e24)
    bands = _bands(ax)
    assert len(bands) == 1
    draws = boot.samples()
    p = {k: draws[:, j] for j, k in enumerate(res.law.param_names)}
    nd, dd = _closed_form_opt(p, 1e24)
    lo, hi = np.quantile(_loss(p, nd, dd), [0.025, 0.975])
    blo, bhi = _band_at(bands[0], xg[-1])
    assert (blo, bhi) == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))
    assert blo < yg[-1] < bhi
    assert any("1e+24" in t.get_text() for t in ax.texts)


def test_plot_fit_point_fit_has_no_band_and_ties_inputs_to_data(chin):
    _, res, boot = chin
    fig = js.plot_fit(res, x="N", along="data")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert _bands(ax) == []
    # a band appears with draws, and the curve runs over the data's N range
    ax2 = js.plot_fit(boot, x="N", along="data", level=0.5).axes[0]
    assert len(_bands(ax2)) == 1
    xg = ax2.get_lines()[0].get_xdata()
    assert xg.min() == pytest.approx(res.data.inputs["N"].min()) and xg.max() == pytest.approx(res.data.inputs["N"].max())
    with pytest.raises(ValueError, match="x must be one of"):
        js.plot_fit(res, x="tokens")
    with pytest.raises(ValueError, match="along"):
        js.plot_fit(res, x="N", along="optimal")
    with pytest.raises(ValueError, match="level"):
        js.plot_fit(boot, level=1.5)


def test_plot_isoloss_frontier_and_band(chin, tmp_path):
    _, res, boot = chin
    fig = js.plot_isoloss(boot, extrapolate_to=1e24, save=tmp_path / "iso.png")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert (tmp_path / "iso.png").stat().st_size < 150_000
    frontier = ax.get_lines()[0]
    cs, ns = frontier.get_xdata(), frontier.get_ydata()
    assert ns == pytest.approx(_closed_form_opt(res.params, cs)[0], rel=1e-9)
    bands = _bands(ax)
    assert len(bands) == 1
    blo, bhi = _band_at(bands[0], cs[-1])
    ci = boot.interval(lambda p: _closed_form_opt(p, cs[-1])[0])
    assert (blo, bhi) == (pytest.approx(ci[0], rel=1e-9), pytest.approx(ci[1], rel=1e-9))
    assert len(fig.axes) == 2  # the colour bar of the contours
    with pytest.raises(ValueError, match="law of N and D"):
        js.plot_isoloss(dataclasses.replace(res, law=js.get_law("power_law")))


def test_plot_exponents_bootstrap(chin, tmp_path):
    _, res, boot = chin
    fig = js.plot_exponents(boot, save=tmp_path / "exp.png")
    assert [a.get_title().split(" =")[0] for a in fig.axes] == ["alpha", "beta"]
    ci = boot.interval()
    j = res.law.param_names.index("alpha")
    nums = [float(v) for v in re.findall(r"[-\d.]+(?:e[-+]?\d+)?", fig.axes[0].get_title().split("=", 1)[1])]
    assert nums == pytest.approx([res.params["alpha"], ci[j, 0], ci[j, 1]], rel=1e-3)
    assert sum(bar.get_height() for bar in fig.axes[0].containers[0]) == boot.n_converged  # the histogram
    with pytest.raises(ValueError, match="draws"):
        js.plot_exponents(res)
    with pytest.raises(ValueError, match="unknown parameter"):
        js.plot_exponents(boot, ["gamma"])


def test_plot_exponents_posterior_uses_arviz(chin):
    """A PosteriorResult goes through ArviZ's plot_posterior (draws made up here: no sampling)."""
    from jaxscale import _arviz
    from jaxscale._bayes import PosteriorResult

    _, res, _ = chin
    rng = np.random.default_rng(0)
    by_chain = {k: v * (1 + 0.01 * rng.standard_normal((2, 100))) for k, v in res.params.items()}
    idata = _arviz.inference_data(posterior=by_chain, log_likelihood={}, posterior_predictive={}, observed={},
                                  sample_stats={}, constant_data={})
    flat = {k: v.ravel() for k, v in by_chain.items()}
    post = PosteriorResult(res, flat, idata, None, 0, "gaussian", 2, 0)
    fig = js.plot_exponents(post, level=0.9)
    assert len(fig.axes) == 2
    assert [a.get_title() for a in fig.axes] == ["alpha", "beta"]
    assert any("90% HDI" in t.get_text() for t in fig.axes[0].texts)


def test_plot_isoflop(chin):
    df, res, _ = chin
    fig = js.plot_isoflop(df, res)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(scatters) == 9 and sum(len(c.get_offsets()) for c in scatters) == len(df)
    # one law curve per budget plus the frontier through the per-budget minima
    frontier = ax.get_lines()[-1]
    n_opt = _closed_form_opt(res.params, np.unique(df["C"]))[0]
    assert frontier.get_xdata() == pytest.approx(n_opt, rel=1e-9)
    # without a fit: the isoFLOP parabolas (jaxscale.isoflop), C recovered from N and D
    ax2 = js.plot_isoflop(df.drop(columns="C")).axes[0]
    assert len([c for c in ax2.collections if isinstance(c, PathCollection)]) == 9
    # with an IsoflopResult: its minima, with the bootstrap interval of k_n C^a as error bars
    iso = js.fit_isoflop(df, n_resamples=200)
    ax3 = js.plot_isoflop(df, iso).axes[0]
    minima = [ln for ln in ax3.get_lines() if ln.get_marker() == "o"]
    assert len(minima) == 1 and minima[0].get_xdata() == pytest.approx(iso.n_opt, rel=1e-12)
    dashed = [ln for ln in ax3.get_lines() if ln.get_linestyle() == "--" and ln.get_marker() != "o"]
    assert len(dashed) == 9
    assert sorted(min(ln.get_ydata()) for ln in dashed) == pytest.approx(sorted(iso.loss_opt), rel=1e-4)
    with pytest.raises(ValueError, match="unknown column"):
        js.plot_isoflop(df, target="val_loss")


def test_cli_plot(chin, tmp_path):
    df, _, _ = chin
    csv, png = tmp_path / "runs.csv", tmp_path / "fit.png"
    df.to_csv(csv, index=False)
    assert main(["fit", str(csv), "--starts", "halton:256", "--plot", str(png), "--no-progress"]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_readme_shows_every_plot_kind():
    text = (ROOT / "README.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
    for kind in ("fit", "isoloss", "exponents", "isoflop"):
        assert any(kind in Path(i).stem for i in images), kind
    for i in images:
        path = ROOT / i
        assert path.exists(), i
        assert path.stat().st_size < 150_000, i
