"""The engine's own scaling law: time and peak memory against the size of a study.

Five sweeps, each point in a fresh Python process (so compile, run and memory are its own):

* ``starts``: Chinchilla fit, 240 points, ``S`` Halton starts;
* ``resamples``: Chinchilla bootstrap, 240 points, ``R`` resamples x 5 starts;
* ``points``: Chinchilla fit, 64 Halton starts, ``n`` points;
* ``params``: ``saturating_power_law`` (3 parameters) and the broken neural scaling law with 1, 2,
  3 breaks (6, 9, 12 parameters), 200 points, 256 Halton starts;
* ``groups``: Chinchilla grouped fit, ``G`` groups of 40 points, 64 starts each.

Each point reports the first call (trace + compile + run), the warm call, the process's resident
set size after import and data set-up (baseline) and its peak (``ru_maxrss``: JAX allocates
outside Python's heap, so tracemalloc would not see it). Data are simulated from the law (0.5%
noise); the solver runs a fixed number of steps, so the time does not depend on the data.

Each cost curve is then fitted with jaxscale itself: ``cost = a * size^b`` (``power_law`` with
``alpha = -b``, squared error of log cost), and the fitted exponent ``b`` is written with the
points. Local exponents between neighbouring sizes are given too (the fixed per-call overhead
makes the curve flatter at small sizes).

    python -m benchmarks.scaling --out benchmarks/results/scaling_cpu2_v1.json   # ~5-10 min on 2 cores
    python -m benchmarks.scaling --quick                                          # 2 sizes per sweep
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

import numpy as np

from ._common import ROOT, emit

SWEEPS = {
    "starts": [64, 256, 1024, 4096],
    "resamples": [16, 64, 256, 1024],
    "points": [100, 1000, 10_000],
    "params": [3, 6, 9, 12],
    "groups": [4, 16, 64, 256],
}
QUICK = {k: v[:2] for k, v in SWEEPS.items()}

_CHILD = r"""
import json, resource, sys, time
import numpy as np
axis, size = sys.argv[1], int(sys.argv[2])
import jaxscale as js


def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def simulate(law, params, n, rng):
    lo = law.default_starts().min(0)
    if "N" in law.inputs:
        x = {"N": np.exp(rng.uniform(np.log(1e7), np.log(1e10), n)), "D": np.exp(rng.uniform(np.log(1e9), np.log(1e12), n))}
    else:
        x = {"x": np.exp(rng.uniform(0.0, np.log(1e6), n))}
    y = np.asarray(law.predict(params, x)) * np.exp(0.005 * rng.standard_normal(n))
    return {**x, "loss": y}


rng = np.random.default_rng(0)
chin = js.chinchilla
epoch = {k: js.EPOCH_PARAMS[k] for k in chin.param_names}
kw = dict(progress=False, on_failure="ignore", starts="halton")
if axis == "starts":
    data = simulate(chin, epoch, 240, rng)
    work = lambda: js.fit(chin, data, n_starts=size, **kw)
elif axis == "resamples":
    data = simulate(chin, epoch, 240, rng)
    base = js.fit(chin, data, n_starts=64, **kw)
    work = lambda: js.bootstrap(base, size, seed=0, progress=False, on_failure="ignore")
elif axis == "points":
    data = simulate(chin, epoch, size, rng)
    work = lambda: js.fit(chin, data, n_starts=64, **kw)
elif axis == "params":
    if size == 3:
        law = js.saturating_power_law
    else:
        law = js.laws.make_bnsl((size - 3) // 3)
    mid = law.constrain(np.median(law.default_starts(), axis=0))
    data = simulate(law, {k: float(v) for k, v in mid.items()}, 200, rng)
    work = lambda: js.fit(law, data, n_starts=256, **kw)
elif axis == "groups":
    parts = [simulate(chin, epoch, 40, rng) for _ in range(size)]
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    data["g"] = np.repeat(np.arange(size), 40)
    work = lambda: js.fit(chin, data, group="g", n_starts=64, **kw)
else:
    raise SystemExit(f"unknown axis {axis}")
base_rss = rss_mb()
t0 = time.perf_counter(); work(); first = time.perf_counter() - t0
t0 = time.perf_counter(); work(); warm = time.perf_counter() - t0
print(json.dumps({"first_call_s": first, "warm_s": warm, "baseline_rss_mb": base_rss,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _point(axis: str, size: int, timeout: float) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION")}  # no cache: compile measured
    env["JAX_PLATFORMS"] = env.get("JAX_PLATFORMS", "cpu")
    t0 = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, "-c", _CHILD, axis, str(size)], env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"size": size, "error": f"timeout after {timeout} s"}
    wall = time.perf_counter() - t0
    if out.returncode:
        return {"size": size, "error": out.stderr.strip().splitlines()[-1][:300]}
    return {"size": size, "process_wall_s": wall, **json.loads(out.stdout.strip().splitlines()[-1])}


def fit_power(sizes, costs) -> dict:
    """``cost = a * size^b`` fitted with jaxscale (power_law, squared log error); returns a, b, status."""
    import jaxscale as js

    sizes, costs = np.asarray(sizes, float), np.asarray(costs, float)
    keep = np.isfinite(costs) & (costs > 0)
    if keep.sum() < 2:
        return {"a": None, "b": None, "note": "fewer than 2 positive points"}
    starts = {"a": np.repeat(np.geomspace(1e-4, 1e2, 7), 5), "alpha": np.tile([-1.5, -1.0, -0.5, 0.0, 0.5], 7)}
    res = js.fit("power_law", {"x": sizes[keep], "loss": costs[keep]}, loss="squared_log", starts=starts,
                 progress=False, on_failure="ignore")
    b = -res.params["alpha"]
    local = np.diff(np.log(costs[keep])) / np.diff(np.log(sizes[keep]))
    return {"a": res.params["a"], "b": b, "converged": bool(res.converged), "rms_log_residual":
            float(np.sqrt(2 * res.objective / keep.sum())), "local_exponents": local.tolist()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the 2 smallest sizes of each sweep")
    ap.add_argument("--only", default=",".join(SWEEPS), help=f"comma-separated subset of {tuple(SWEEPS)}")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per point")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    sweeps = QUICK if args.quick else SWEEPS
    load_start = os.getloadavg()
    t_run = time.perf_counter()
    results = {}
    for axis in [a.strip() for a in args.only.split(",") if a.strip()]:
        rows = []
        for size in sweeps[axis]:
            print(f"[scaling] {axis} = {size} ...", file=sys.stderr, flush=True)
            rows.append(_point(axis, size, args.timeout))
        ok = [r for r in rows if "error" not in r]
        sizes = [r["size"] for r in ok]
        results[axis] = {
            "points": rows,
            "fit_warm_s": fit_power(sizes, [r["warm_s"] for r in ok]),
            "fit_first_call_s": fit_power(sizes, [r["first_call_s"] for r in ok]),
            "fit_peak_rss_above_baseline_mb": fit_power(sizes, [r["peak_rss_mb"] - r["baseline_rss_mb"] for r in ok]),
        }
    import jaxscale as js

    from ._common import machine

    out = {
        "benchmark": "engine_scaling",
        "mode": "quick" if args.quick else "full",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {**machine(), "load_average_start": load_start, "load_average_end": os.getloadavg()},
        "model": "cost = a * size^b, fitted by jaxscale (power_law, squared log error); b is the exponent",
        "jaxscale": js.__version__,
        "sweeps": results,
        "total_wall_s": time.perf_counter() - t_run,
    }
    return emit(out, args.out)


if __name__ == "__main__":
    main()
