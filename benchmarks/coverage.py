"""Coverage of jaxscale's intervals on simulated data (a measurement, not a unit test).

``--method nuts`` (default): simulates ``--n`` data sets from the saturating power law (E=1.5,
A=20, alpha=0.45, 25 points, 3% log-normal noise), fits each with NUTS (2 chains x 300 warmup +
300 draws) and reports how often the ``--level`` (default 90%) credible interval covers the true
alpha and E.

``--method bootstrap``: simulates ``--n`` data sets from the synthetic Chinchilla design
(:func:`jaxscale.synthetic_chinchilla`, seeds 1..n: 135 isoFLOP runs, 1% log-normal noise around
Epoch AI's parameters), fits the Chinchilla law (summed Huber, delta 1e-3, the default plan),
bootstraps each fit (``--resamples``, default 400) with every scheme in ``--schemes`` and
reports, per scheme, how often the 95% percentile interval covers each true parameter and the
true loss at the compute-optimal allocation for 10x and 100x the largest budget (3e22 and 3e23
FLOP), each with its binomial SE. It also reports the diagnostics behind the coverage: the
mean bootstrap SE of each parameter beside the actual spread (sd) of the point estimates over
the simulated data sets. Bootstrap SE / sd > 1 means the intervals are too wide.

``residual:raw`` / ``residual:linearised`` in ``--schemes`` pick the residual scheme's residuals
(default modified, see :func:`jaxscale._bootstrap.modified_residuals`); ``--diagnostics`` also
records per data set the leverages and how many raw and modified residuals lie within the Huber
delta; ``--reference FILE`` (a ``--method design`` report) adds each bootstrap SE over that
report's fixed-design spread, measured on more data sets than the sd above.

``--method design``: the spread of the point estimates over ``--n`` data sets with the isoFLOP
design fixed (fresh noise each) against a random design (the 135 runs drawn with replacement,
fresh noise for every row): what redrawing the design, as a pairs bootstrap does, adds.

Measured at commit 928a85b (``benchmarks/results/coverage_bootstrap_cpu2.json``: seeds 1-400, 400
resamples, load average ~5): the residual scheme (modified residuals) covered 94.0-94.8% for
every parameter and both predictions (binomial SE 1.1-1.2 points), SEs 1.02-1.05 of the
fixed-design spread over 1,000 data sets (``coverage_design_cpu2.json``); the iid (pairs) scheme
covered 95.5-97.2%, SEs 1.09-1.18, of which redrawing the design accounts for 1.03-1.07.
``coverage_residuals_cpu2.json`` (100 data sets): raw residuals give SEs 0.91-0.93 of that
spread (15.5 of 135 raw residuals within delta where 10.8 are expected; modified: 10.8), the
leverage-only ``r_i / sqrt(1 - h_ii)`` 0.93-0.95.

    python -m benchmarks.coverage --method nuts --n 100
    python -m benchmarks.coverage --method design --n 1000 --json benchmarks/results/coverage_design_cpu2.json
    python -m benchmarks.coverage --method bootstrap --n 400 --resamples 400 --schemes iid,residual \\
        --reference benchmarks/results/coverage_design_cpu2.json --json benchmarks/results/coverage_bootstrap_cpu2.json
    python -m benchmarks.coverage --method bootstrap --n 100 --resamples 400 --diagnostics \\
        --schemes residual:raw,residual:linearised --json benchmarks/results/coverage_residuals_cpu2.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import time
import warnings

import numpy as np

import jaxscale as js

from ._common import ROOT, machine


def nuts(args):
    rng = np.random.default_rng(7)
    truth = {"E": 1.5, "A": 20.0, "alpha": 0.45}
    hits = {k: 0 for k in truth}
    t0 = time.perf_counter()
    for i in range(args.n):
        x = np.logspace(1, 6, 25)
        y = (truth["E"] + truth["A"] * x ** -truth["alpha"]) * np.exp(0.03 * rng.standard_normal(25))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            post = js.bayes_fit("saturating_power_law", {"x": x, "loss": y}, chains=2, warmup=300, samples=300,
                                seed=i, progress=False)
        ci = dict(zip(post.law.param_names, post.interval(level=args.level)))
        for k, v in truth.items():
            hits[k] += ci[k][0] <= v <= ci[k][1]
    rate = {k: h / args.n for k, h in hits.items()}
    se = math.sqrt(args.level * (1 - args.level) / args.n)
    return {"method": "nuts", "level": args.level, "n_datasets": args.n, "coverage": rate,
            "binomial_se_at_nominal": se, "seconds": time.perf_counter() - t0}


def coverage_summary(hits: np.ndarray, level: float) -> dict:
    """Coverage rate of boolean ``hits`` with its binomial SE (at the measured rate and at nominal)."""
    hits = np.asarray(hits, dtype=bool)
    n = hits.shape[0]
    p = float(hits.mean()) if n else float("nan")
    return {"coverage": p, "n": int(n), "se": math.sqrt(max(p * (1 - p), 1e-12) / n) if n else float("nan"),
            "se_at_nominal": math.sqrt(level * (1 - level) / n) if n else float("nan")}


def truth_targets(params: dict, factors=(10.0, 100.0), largest: float = 3e21) -> dict:
    """Compute-optimal (N, D) of the generating law at ``factor * largest`` (C = 6 N D, Hoffmann et al.
    Eq. 4 closed form) and its true loss there."""
    a, b = params["alpha"], params["beta"]
    g = (a * params["A"] / (b * params["B"])) ** (1.0 / (a + b))
    out = {}
    for f in factors:
        c = f * largest
        n = g * (c / 6.0) ** (b / (a + b))
        d = c / (6.0 * n)
        loss = params["E"] + params["A"] / n ** a + params["B"] / d ** b
        out[f"pred_{f:g}x"] = {"C": c, "N": n, "D": d, "loss": loss}
    return out


def bootstrap(args):
    truth = dict(js.EPOCH_PARAMS)
    names = list(truth)
    targets = truth_targets(truth)
    schemes = [s.strip() for s in args.schemes.split(",") if s.strip()]
    hits = {s: {k: [] for k in names + list(targets)} for s in schemes}
    ses = {s: {k: [] for k in names} for s in schemes}
    widths = {s: {k: [] for k in names} for s in schemes}
    estimates = {k: [] for k in names}
    status = {"fit_not_converged": 0, **{f"{s}_resamples_not_converged": 0 for s in schemes},
              **{f"{s}_leave_one_out_not_converged": 0 for s in schemes if s in ("residual", "residual:modified")}}
    diag = []
    args.started = {"utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "git_commit": _git_commit(),
                    "load_average_start": os.getloadavg(), "machine": machine()}
    args.loads = []
    t0 = time.perf_counter()
    from tqdm.auto import tqdm

    seeds = range(args.first_seed, args.first_seed + args.n)
    for seed in tqdm(seeds, desc="coverage (bootstrap)", unit="data set"):
        df = js.synthetic_chinchilla(seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = js.fit("chinchilla", df, progress=False)
        status["fit_not_converged"] += int(not f.converged)
        for k in names:
            estimates[k].append(f.params[k])
        if args.diagnostics:
            diag.append(_diagnostics(f))
        for s in schemes:
            scheme, _, kind = s.partition(":")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                b = js.bootstrap(f, args.resamples, seed=seed, scheme=scheme, progress=False, n_steps=args.n_steps,
                                 min_draws=args.min_draws, residuals=kind or "modified")
            status[f"{s}_resamples_not_converged"] += b.n_resamples - b.n_converged
            for w in caught:  # "K of n leave-one-out fits ... did not converge"
                m = re.match(r"(\d+) of \d+ leave-one-out fits", str(w.message))
                if m:
                    status[f"{s}_leave_one_out_not_converged"] += int(m.group(1))
            ci = b.interval(level=args.level)
            se = b.se()
            for i, k in enumerate(names):
                hits[s][k].append(ci[i, 0] <= truth[k] <= ci[i, 1])
                ses[s][k].append(se[i])
                widths[s][k].append(ci[i, 1] - ci[i, 0])
            for key, tg in targets.items():
                pred = js.predict(b, {"N": [tg["N"]], "D": [tg["D"]]}, level=args.level)
                hits[s][key].append(bool(pred["lo"].iloc[0] <= tg["loss"] <= pred["hi"].iloc[0]))
        args.loads.append(os.getloadavg()[0])
        if args.json:  # partial results survive an interrupted run
            _write(args, _report(args, schemes, names, targets, hits, ses, widths, estimates, status, t0, diag))
    report = _report(args, schemes, names, targets, hits, ses, widths, estimates, status, t0, diag)
    if args.json:
        _write(args, report)
    return report


def _diagnostics(f) -> dict:
    """Why raw residuals mislead: leverages, and how many raw and modified residuals lie within the
    Huber delta (the fit passes through about P points, whose raw residuals sit at 0)."""
    from jaxscale._bootstrap import leave_one_out, leverages, modified_residuals

    h = leverages(f)
    raw = f.loss.target(f.data.y) - np.log(f.predict(f.data.inputs))
    mod = modified_residuals(f, leave_one_out(f))
    d = f.loss.delta
    return {"h_mean": float(h.mean()), "h_q90": float(np.quantile(h, 0.9)), "h_max": float(h.max()),
            "raw_within_delta": int(np.sum(np.abs(raw) < d)), "modified_within_delta": int(np.sum(np.abs(mod) < d)),
            "raw_rms": float(np.sqrt(np.mean(raw ** 2))), "modified_rms": float(np.sqrt(np.mean(mod ** 2)))}


def _report(args, schemes, names, targets, hits, ses, widths, estimates, status, t0, diag):
    n_done = len(estimates[names[0]])
    ref = None
    if args.reference:  # a precise spread of the estimates: --method design's fixed-design sd
        with open(args.reference) as fh:
            rep = json.load(fh)
        ref = rep["sd"]["fixed"]
    sd = {k: float(np.std(estimates[k], ddof=1)) if n_done > 1 else float("nan") for k in names}
    out = {"method": "bootstrap", "design": "js.synthetic_chinchilla(seed) for seeds "
           f"{args.first_seed}..{args.first_seed + n_done - 1} (135 runs, 1% log-normal noise)",
           "law": "chinchilla", "loss": "huber(delta=1e-3), summed", "interval": "percentile",
           "residual_scheme": "modified residuals: leave-one-out (deletion) residual * sqrt(1 - h_ii), recentred "
                              "(jaxscale._bootstrap.modified_residuals)",
           "level": args.level, "n_datasets": n_done, "n_resamples": args.resamples,
           "n_steps": args.n_steps, "truth": dict(js.EPOCH_PARAMS), "targets": targets,
           "sd_of_point_estimates": sd,
           **({"reference_sd": {"file": args.reference, "n_datasets": rep["n_datasets"], "sd": ref}} if ref else {}),
           "sd_relative_se": 1.0 / math.sqrt(2.0 * (n_done - 1)) if n_done > 1 else float("nan"),
           "mean_point_estimate": {k: float(np.mean(estimates[k])) for k in names}, "status": status,
           "schemes": {}, "seconds": time.perf_counter() - t0,
           "run": {**args.started, "load_average_end": os.getloadavg(),
                   "load_average_1min_mean_over_data_sets": float(np.mean(args.loads)) if args.loads else None}}
    if diag:
        p_in = math.erf(1e-3 / (0.01 * math.sqrt(2.0)))  # P(|z| < delta) for the generating 1% noise
        out["diagnostics"] = {
            **{k: float(np.mean([d[k] for d in diag])) for k in diag[0]},
            "expected_within_delta": p_in * 135, "n_datasets": len(diag),
            "note": "means over data sets; expected_within_delta = 135 * P(|noise| < delta) for the true errors"}
    for s in schemes:
        out["schemes"][s] = {
            "coverage": {k: coverage_summary(v, args.level) for k, v in hits[s].items()},
            "mean_bootstrap_se": {k: float(np.mean(ses[s][k])) for k in names},
            "se_ratio_bootstrap_over_actual": {k: float(np.mean(ses[s][k]) / sd[k]) for k in names},
            **({"se_ratio_bootstrap_over_reference": {k: float(np.mean(ses[s][k]) / ref[k]) for k in names}}
               if ref else {}),
            "median_interval_width": {k: float(np.median(widths[s][k])) for k in names},
        }
    return out


def design(args):
    """Spread of the point estimates with the isoFLOP design fixed (the runs of
    :func:`jaxscale.synthetic_chinchilla`, fresh 1% noise per data set) against a random design (its
    135 rows drawn with replacement, fresh noise for every row, duplicates included): what a pairs
    bootstrap's redrawing of the design adds. Each set of ``--n`` data sets is one grouped fit."""
    import pandas as pd

    truth = dict(js.EPOCH_PARAMS)
    names = list(truth)
    base = js.synthetic_chinchilla(seed=0)
    n_rows = len(base)
    rng = np.random.default_rng(args.first_seed)
    t0 = time.perf_counter()
    load_start = os.getloadavg()
    out = {"method": "design", "n_datasets": args.n, "truth": truth, "git_commit": _git_commit(),
           "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "sd": {}, "converged": {}}
    for kind in ("fixed", "random"):
        idx = (np.tile(np.arange(n_rows), args.n) if kind == "fixed"
               else rng.integers(0, n_rows, size=args.n * n_rows))
        n_, d_ = base["N"].to_numpy()[idx], base["D"].to_numpy()[idx]
        clean = truth["E"] + truth["A"] / n_ ** truth["alpha"] + truth["B"] / d_ ** truth["beta"]
        df = pd.DataFrame({"N": n_, "D": d_, "loss": clean * np.exp(0.01 * rng.standard_normal(idx.shape[0])),
                           "set": np.repeat(np.arange(args.n), n_rows)})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = js.fit("chinchilla", df, group="set", progress=False)
        parts = [f for _, f in g.parts()]
        est = np.array([[f.params[k] for k in names] for f in parts if f.converged])
        out["converged"][kind] = int(est.shape[0])
        out["sd"][kind] = dict(zip(names, est.std(axis=0, ddof=1).tolist()))
    out["sd_ratio_random_over_fixed"] = {k: out["sd"]["random"][k] / out["sd"]["fixed"][k] for k in names}
    out["sd_relative_se"] = 1.0 / math.sqrt(2.0 * (args.n - 1))
    out["seconds"] = time.perf_counter() - t0
    out["machine"] = {**machine(), "load_average_start": load_start, "load_average_end": os.getloadavg()}
    if args.json:
        _write(args, out)
    return out


def _git_commit() -> str:
    """HEAD of the checkout the benchmark runs from, with ``-dirty`` when tracked files differ."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _write(args, report):
    with open(args.json, "w") as fh:
        json.dump(report, fh, indent=2)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", choices=("nuts", "bootstrap", "design"), default="nuts")
    ap.add_argument("--n", type=int, default=100, help="number of simulated data sets")
    ap.add_argument("--level", type=float, default=None, help="interval level (nuts: 0.9, bootstrap: 0.95)")
    ap.add_argument("--resamples", type=int, default=400, help="bootstrap resamples per data set")
    ap.add_argument("--min-draws", type=int, default=None,
                    help="fewest converged resamples an interval is made from (default: the library's rule, 100 at 95%%)")
    ap.add_argument("--schemes", default="iid,residual",
                    help="bootstrap schemes, comma-separated; residual:raw / residual:linearised pick the "
                         "residual scheme's residuals (default modified)")
    ap.add_argument("--diagnostics", action="store_true",
                    help="also record leverages and residuals within the Huber delta per data set")
    ap.add_argument("--reference", default=None,
                    help="a --method design JSON: also report bootstrap SE / its fixed-design sd (more data sets)")
    ap.add_argument("--n-steps", type=int, default=None, help="solver steps per resample (default: the fit's)")
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--json", default=None, help="also write the report here (updated after every data set)")
    args = ap.parse_args(argv)
    if args.level is None:
        args.level = 0.9 if args.method == "nuts" else 0.95
    report = {"nuts": nuts, "bootstrap": bootstrap, "design": design}[args.method](args)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
