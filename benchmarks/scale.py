"""Scale benchmark (issue 15, item 1): time and peak memory of the hostile sizes.

``python -m benchmarks.scale [--quick]`` runs each case in its own process (so each peak RSS is
that case's alone) and writes ``benchmarks/results/scale_<backend>.json``:

* ``groups``: 100,000 groups of 4 points (a power law each, 1% noise), one grouped fit.
* ``resamples``: a bootstrap asked for 10^7 resamples of the 135-point Chinchilla data, stopped
  by a timer after a prefix (Ctrl-C semantics: ``js.Interrupted`` says how many were done). It
  records the measured rate, the ETA of the whole run, the peak RSS of the prefix and the stated
  memory bound of the whole run (working memory of one chunk plus ``R * (P + 2)`` result numbers).
* ``wide_law``: a 20-parameter custom law with ``starts="halton", n_starts=64`` (before issue 15
  the default 3^20 start grid was built first: 23 GB and killed).
* ``rows``: Chinchilla on 10^7 simulated rows with the default call (starts chosen on a
  10,000-row subsample, the best 4 polished on all rows).

Every figure is measured in this run; nothing is hard-coded. ``--quick`` shrinks the sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def case_groups(n_groups: int) -> dict:
    import warnings

    import numpy as np

    import jaxscale as js

    rng = np.random.default_rng(0)
    x = np.tile(np.logspace(0, 3, 4), n_groups)
    g = np.repeat(np.arange(n_groups), 4)
    y = np.repeat(rng.uniform(1, 10, n_groups), 4) * x ** -np.repeat(rng.uniform(0.1, 0.6, n_groups), 4)
    y = y * np.exp(0.01 * rng.standard_normal(x.size))
    t = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = js.fit("power_law", {"x": x, "loss": y, "g": g}, group="g", progress=False)
    seconds = time.perf_counter() - t
    return {"groups": n_groups, "points_per_group": 4, "seconds": seconds,
            "converged": int(sum(f.converged for f in res.fits.values())), "warning_lines": len(caught)}


def case_resamples(n_resamples: int, prefix_seconds: float, chunk_size: int = 2048) -> dict:
    import signal

    import jaxscale as js

    fit = js.fit("chinchilla", js.synthetic_chinchilla(), progress=False)
    js.bootstrap(fit, chunk_size, progress=False, on_failure="ignore", chunk_size=chunk_size)  # compile first

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, stop)
    t = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, prefix_seconds)
    done = n_resamples
    try:
        js.bootstrap(fit, n_resamples, progress=False, on_failure="ignore", chunk_size=chunk_size)
    except js.Interrupted as err:
        done = err.done
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    seconds = time.perf_counter() - t
    p = fit.law.n_params
    rate = done / seconds
    return {"asked": n_resamples, "chunk_size": chunk_size, "done_in_prefix": done, "prefix_seconds": seconds, "resamples_per_second": rate,
            "eta_whole_hours": n_resamples / rate / 3600 if rate > 0 else None,
            "result_bytes_whole": n_resamples * (p + 2) * 8,
            "bound": "peak = one chunk's working memory (measured: prefix peak) + R*(P+2)*8 bytes of results"}


def case_wide_law(n_params: int) -> dict:
    import numpy as np

    import jaxscale as js

    params = tuple(js.Param(f"c{i}", "real", grid=(-1.0, 0.0, 1.0)) for i in range(n_params))

    def fn(p, x):
        return 2.0 + sum(p[f"c{i}"] * 1e-2 * jnp.sin((i + 1) * jnp.log(x["x"])) for i in range(n_params))

    import jax.numpy as jnp

    law = js.law(name=f"wide{n_params}", inputs=("x",), params=params)(fn)
    x = np.logspace(0, 4, 200)
    truth = {f"c{i}": 0.5 * np.cos(i) for i in range(n_params)}
    y = np.asarray(law.predict(truth, {"x": x})) * np.exp(0.001 * np.random.default_rng(0).standard_normal(200))
    t = time.perf_counter()
    res = js.fit(law, {"x": x, "loss": y}, starts="halton", n_starts=64, loss="squared_log", progress=False,
                 on_failure="ignore")
    return {"params": n_params, "starts": 64, "grid_points_not_built": 3 ** n_params,
            "seconds": time.perf_counter() - t, "converged": bool(res.converged)}


def case_rows(n_rows: int) -> dict:
    """Chinchilla on ``n_rows`` simulated runs (1% noise), the default call: starts chosen on a
    10,000-row subsample, the best polished on all rows (the PlanWarning says so)."""
    import warnings

    import numpy as np

    import jaxscale as js

    rng = np.random.default_rng(0)
    n = 10 ** rng.uniform(7, 10, n_rows)
    d = 10 ** rng.uniform(8, 11, n_rows)
    y = np.asarray(js.chinchilla.predict(js.EPOCH_PARAMS, {"N": n, "D": d})) * np.exp(0.01 * rng.standard_normal(n_rows))
    t = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = js.fit("chinchilla", {"N": n, "D": d, "loss": y}, progress=False)
    seconds = time.perf_counter() - t
    plan = [str(w.message) for w in caught if issubclass(w.category, js.PlanWarning)]
    return {"rows": n_rows, "seconds": seconds, "converged": bool(res.converged), "n_starts_on_all_rows": res.n_starts,
            "max_rel_error_vs_truth": max(abs(res.params[k] / v - 1) for k, v in js.EPOCH_PARAMS.items()),
            "plan_message": plan[0] if plan else None}


CASES = {"groups": case_groups, "resamples": case_resamples, "wide_law": case_wide_law, "rows": case_rows}


def _child(name: str, kwargs: dict) -> dict:
    out = CASES[name](**kwargs)
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--kwargs", default="{}", help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=float, default=1e7, help="rows of the large-data case (default 1e7)")
    ap.add_argument("--only", default=None, help="comma-separated cases to run (default: all)")
    ap.add_argument("--out", default=None, help="result JSON (default benchmarks/results/scale_<backend>.json)")
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, json.loads(args.kwargs))))
        return 0
    sizes = {"groups": {"n_groups": 2_000 if args.quick else 100_000},
             "resamples": {"n_resamples": 10_000_000, "prefix_seconds": 10.0 if args.quick else 60.0},
             "wide_law": {"n_params": 20},
             "rows": {"n_rows": 200_000 if args.quick else int(args.rows)}}
    import jax

    results = {"backend": jax.default_backend(), "cpus": os.cpu_count(), "quick": args.quick, "cases": {}}
    if args.only:
        sizes = {k: v for k, v in sizes.items() if k in args.only.split(",")}
    for name, kwargs in sizes.items():
        proc = subprocess.run([sys.executable, "-m", "benchmarks.scale", "--child", name, "--kwargs",
                               json.dumps(kwargs)], capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            results["cases"][name] = {"error": proc.stderr.strip().splitlines()[-1:], "kwargs": kwargs}
        else:
            results["cases"][name] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(name, json.dumps(results["cases"][name]), flush=True)
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / (
        f"scale_{results['backend']}{'_quick' if args.quick else ''}.json")
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
