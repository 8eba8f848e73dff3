"""The benchmark suite: every benchmark in one run, one JSON file and a short table.

    python -m benchmarks --quick          # < 2 minutes on a 2-core CPU
    python -m benchmarks                  # full sizes (GPU: adds the sweep up to 10^7 fits)
    python -m benchmarks --only fit,zoo   # a subset

Each section times jaxscale with ``block_until_ready`` (results come back as NumPy arrays, which
waits for the device), reports the first call (compilation + run) and the median of several warm
calls separately, counts converged fits, and runs the scipy loop that researchers use today in the
same process on the same data, reporting the ratio (scaled from a subset of the loop where the
full loop would take hours; the JSON says which). Peak memory: resident set size of the process on
CPU, ``peak_bytes_in_use`` of the first device on accelerators.
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import sys
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxscale as js
from jaxscale import precision
from jaxscale._starts import make_starts
from jaxscale._bootstrap import basin_starts, resample_weights
from jaxscale._engine import model_output
from jaxscale._objectives import huber

from ._common import ROOT, chinchilla_data, machine, timed
from ._peers import lbfgs_loop, tuned_objective as scipy_objective

SECTIONS = ("fit", "bootstrap", "nuts", "zoo", "sweep")
QUICK = {"repeats": 2, "scipy_starts": 150, "boot_n": 500, "boot_scipy": 10, "nuts": (2, 300, 300),
         "zoo_starts": 64, "zoo_scipy_starts": 16, "zoo_laws": ("saturating_power_law", "bnsl", "overtraining"),
         "sweep": (10, 1_000)}
FULL = {"repeats": 3, "scipy_starts": 4500, "boot_n": 4000, "boot_scipy": 100, "nuts": (4, 1000, 1000),
        "zoo_starts": 1024, "zoo_scipy_starts": 64, "zoo_laws": None,
        "sweep": (1, 10, 100, 1_000, 10_000, 100_000)}
GPU_SWEEP = (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000)


def peak_memory_mb() -> float:
    """Peak memory so far: device ``peak_bytes_in_use`` on accelerators, process max RSS on CPU."""
    dev = jax.devices()[0]
    if dev.platform != "cpu":
        stats = dev.memory_stats() or {}
        if "peak_bytes_in_use" in stats:
            return stats["peak_bytes_in_use"] / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # kB on Linux


# ----------------------------------------------------------------------------------------------
def bench_fit(cfg, df):
    starts = js.chinchilla.default_starts()
    first, warm, res = timed(lambda: js.fit("chinchilla", df, progress=False), cfg["repeats"])
    lN, lD, ly = (np.log(df[c].to_numpy()) for c in ("N", "D", "loss"))
    subset = starts[np.linspace(0, len(starts) - 1, min(cfg["scipy_starts"], len(starts))).astype(int)]
    t0 = time.perf_counter()
    f, _, ok = lbfgs_loop(subset, lN, lD, ly)  # hand-written log-sum-exp (see benchmarks/_peers.py)
    scipy_s = (time.perf_counter() - t0) * len(starts) / len(subset)
    best_f, n_success = float(f.min()), int(ok.sum())
    return {"what": f"chinchilla refit from the full {len(starts)}-start grid, {len(df)} points",
            "compile_s": first - warm, "first_call_s": first, "warm_median_s": warm,
            "n_fits": len(starts), "n_converged": res.n_converged,
            "scipy_s": scipy_s, "scipy_scaled_from": len(subset), "scipy_n_success": n_success,
            "ratio": scipy_s / warm, "objective_rel_diff": abs(res.objective - best_f) / best_f}


def bench_bootstrap(cfg, df):
    from scipy.optimize import minimize

    fit = js.fit("chinchilla", df, progress=False)
    n = cfg["boot_n"]
    first, warm, boot = timed(lambda: js.bootstrap(fit, n, seed=0, progress=False), cfg["repeats"])
    # scipy doing the same work: per resample, L-BFGS-B from the same starts jaxscale uses
    starts = basin_starts(fit)
    lN, lD, ly = (np.log(df[c].to_numpy()) for c in ("N", "D", "loss"))
    m = cfg["boot_scipy"]
    w = resample_weights(len(df), m, 0)
    t0 = time.perf_counter()
    for r in range(m):
        idx = np.repeat(np.arange(len(df)), w[r].astype(int))
        for u0 in starts:
            minimize(scipy_objective, u0, args=(lN[idx], lD[idx], ly[idx], 1e-3), jac=True, method="L-BFGS-B")
    scipy_s = (time.perf_counter() - t0) * n / m
    return {"what": f"{n} i.i.d. resamples x {len(starts)} starts (full-data optimum + basins)",
            "compile_s": first - warm, "first_call_s": first, "warm_median_s": warm,
            "n_fits": n * len(starts), "n_converged": boot.n_converged, "n_resamples": n,
            "scipy_s": scipy_s, "scipy_scaled_from": m, "ratio": scipy_s / warm}


def bench_nuts(cfg, df):
    chains, warmup, samples = cfg["nuts"]
    fit = js.fit("chinchilla", df, progress=False)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", js.SamplingWarning)
            return js.bayes_fit("chinchilla", df, likelihood="huber", init=fit, chains=chains, warmup=warmup,
                                samples=samples, seed=0, progress=False)

    first, warm, post = timed(run, max(1, cfg["repeats"] - 1))
    ess = min(post.ess_bulk.values())
    return {"what": f"NUTS, Huber density, {chains} chains x ({warmup} warmup + {samples} draws)",
            "compile_s": first - warm, "first_call_s": first, "warm_median_s": warm,
            "n_fits": len(post.r_hat), "n_converged": int(sum(v <= 1.01 for v in post.r_hat.values())),
            "converged_means": "n_fits counts sampled parameters; n_converged those with r_hat <= 1.01", "min_ess_bulk": ess, "ess_per_s": ess / warm,
            "max_r_hat": max(post.r_hat.values()), "n_divergences": post.n_divergences,
            "scipy_s": None, "ratio": None, "note": "scipy has no sampler; no loop to compare with"}


def scipy_law_loop(law, x, y, starts, delta=1e-3):
    """The generic scipy loop: L-BFGS-B from each start, objective and gradient from jitted JAX."""
    from scipy.optimize import minimize

    obj = huber(delta)
    with precision(np.float64):
        xj = {k: jnp.asarray(v) for k, v in x.items()}
        ly = jnp.log(jnp.asarray(y))

        @jax.jit
        def f(u):
            return jnp.sum(obj.rho(ly - model_output(law, obj, law.constrain(u), xj)))

        vg = jax.jit(jax.value_and_grad(f))
        vg(jnp.asarray(starts[0]))  # compile outside the timed loop
        t0 = time.perf_counter()
        best = np.inf
        for u0 in starts:
            r = minimize(lambda u: tuple(np.asarray(v, dtype=float) for v in vg(jnp.asarray(u))), u0, jac=True,
                         method="L-BFGS-B")
            best = min(best, float(r.fun)) if np.isfinite(r.fun) else best
        return time.perf_counter() - t0, best


def bench_zoo(cfg, df):
    from ._common import examples

    _examples = examples()

    rows = {}
    for name in cfg["zoo_laws"] or _examples.names():
        law = js.get_law(name)
        data = _examples.simulate(name, seed=0)
        x = {k: data[k] for k in law.inputs}
        kw = {"starts": "halton", "n_starts": cfg["zoo_starts"], "seed": 0, "progress": False}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            first, warm, res = timed(lambda: js.fit(law, data, **kw), cfg["repeats"])
        starts = make_starts(law, "halton", n=cfg["zoo_starts"], seed=0)[: cfg["zoo_scipy_starts"]]  # the same points
        scipy_s, scipy_best = scipy_law_loop(law, x, data["loss"], np.asarray(starts))
        scipy_s *= cfg["zoo_starts"] / len(starts)
        rows[name] = {"n_points": len(data["loss"]), "n_fits": cfg["zoo_starts"], "compile_s": first - warm,
                      "first_call_s": first, "warm_median_s": warm, "n_converged": res.n_converged,
                      "objective": res.objective, "scipy_s": scipy_s, "scipy_scaled_from": len(starts),
                      "scipy_best_objective": scipy_best, "ratio": scipy_s / warm}
    which = "each registered law" if cfg["zoo_laws"] is None else f"{len(rows)} laws (quick mode)"
    return {"what": f"{which}, simulated example (tests/_examples.py), {cfg['zoo_starts']} Halton starts",
            "laws": rows}


def bench_sweep(cfg, df, sizes):
    """Time versus number of fits (starts x resamples) on one law, one compile per size."""
    fit = js.fit("chinchilla", df, progress=False)
    rows = []
    for total in sizes:
        n_res = max(1, total // 5)
        first, warm, boot = timed(lambda n=n_res: js.bootstrap(fit, n, seed=1, progress=False), 1)
        fits = n_res * boot.starts_per_resample
        rows.append({"n_fits": fits, "n_resamples": n_res, "compile_s": first - warm, "first_call_s": first,
                     "warm_s": warm, "fits_per_s": fits / warm, "n_converged": boot.n_converged,
                     "peak_memory_mb": peak_memory_mb()})
    return {"what": "bootstrap resamples x 5 starts of the chinchilla law, one batch per size", "sizes": rows}


# ----------------------------------------------------------------------------------------------
def _table(results) -> str:
    head = f"{'benchmark':<28}{'compile s':>10}{'warm s':>10}{'fits':>10}{'converged':>10}{'scipy s':>10}{'ratio':>8}"
    lines = [head, "-" * len(head)]

    def row(name, r):
        scipy = "-" if r.get("scipy_s") is None else f"{r['scipy_s']:.1f}"
        ratio = "-" if r.get("ratio") is None else f"{r['ratio']:.1f}x"
        warm = r.get("warm_median_s", r.get("warm_s"))
        lines.append(f"{name:<28}{r['compile_s']:>10.2f}{warm:>10.3f}{r['n_fits']:>10}{r['n_converged']:>10}"
                     f"{scipy:>10}{ratio:>8}")

    for name, r in results.items():
        if "error" in r:
            lines.append(f"{name:<28}error: {r['error']}")
        elif name == "zoo":
            for law, lr in r["laws"].items():
                row(f"zoo:{law}", lr)
        elif name == "sweep":
            for s in r["sizes"]:
                row(f"sweep:{s['n_fits']}", s)
        else:
            row(name, r)
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (< 2 minutes on a 2-core CPU)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/suite_<backend>_<mode>.json)")
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s) {sorted(unknown)}; choose from {SECTIONS}")
    cfg = QUICK if args.quick else FULL
    backend = jax.default_backend()
    sweep_sizes = cfg["sweep"] if (args.quick or backend == "cpu") else GPU_SWEEP
    df, source = chinchilla_data()
    runners = {"fit": lambda: bench_fit(cfg, df), "bootstrap": lambda: bench_bootstrap(cfg, df),
               "nuts": lambda: bench_nuts(cfg, df), "zoo": lambda: bench_zoo(cfg, df),
               "sweep": lambda: bench_sweep(cfg, df, sweep_sizes)}
    t_start = time.perf_counter()
    results = {}
    for name in only:
        t0 = time.perf_counter()
        print(f"[benchmarks] {name} ...", file=sys.stderr, flush=True)
        try:
            results[name] = runners[name]()
        except Exception as err:  # a failing section is reported, not hidden, and the rest still run
            results[name] = {"error": f"{type(err).__name__}: {err}"}
        results[name]["section_wall_s"] = time.perf_counter() - t0
        results[name]["peak_memory_mb"] = peak_memory_mb()
    mode = "quick" if args.quick else "full"
    out = {"suite": "jaxscale benchmarks", "mode": mode, "data": source, "n_points": len(df),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": machine(), "total_wall_s": time.perf_counter() - t_start,
           "peak_memory_kind": "device peak_bytes_in_use" if backend != "cpu" else "process max RSS",
           "results": results}
    path = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"suite_{backend}_{mode}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=2, default=float))
    tmp.replace(path)
    print(_table(results))
    print(f"total {out['total_wall_s']:.1f} s on {backend}; peak memory {peak_memory_mb():.0f} MB; JSON: {path}")
    return out


if __name__ == "__main__":
    main()
