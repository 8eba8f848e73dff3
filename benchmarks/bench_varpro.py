"""Variable projection in the engine against variable projection with scipy, in one run.

Three measurements on Epoch AI's 240 Chinchilla points (summed Huber, delta = 1e-3, of log
residuals; see :mod:`benchmarks._peers` for the peer):

* **point fit**: ``js.fit("chinchilla", df)`` (default plan: variable projection, see
  :mod:`jaxscale._varpro`) first call and warm median, and its objective against the exhaustive
  4,500-start grid (``starts="grid"``, run once) and against the scipy peer (32 x 32 exponent grid,
  NNLS, Nelder-Mead, L-BFGS-B from the 5 best; warm median, ``OPENBLAS_NUM_THREADS=1``, separate
  process).
* **bootstrap**: ``js.bootstrap(fit, n)`` (per resample: variable projection + Levenberg-Marquardt,
  batched over resamples) first call and one warm call, against the same scipy variable projection
  for every resample over a 2-worker process pool (pool start-up included), on the same
  multinomial counts; per-resample objectives compared (relative tolerance 1e-9).
* **unrolled Cholesky threshold**: ``spd_solve`` unrolls the Cholesky factorisation up to
  ``jaxscale._solvers.UNROLL_MAX`` parameters. For 3-9 parameter laws of the zoo (their simulated examples), compile time
  (first call minus warm) and warm time of a 64-start fit with the unrolled solve and with
  ``cho_solve``.

    python -m benchmarks.bench_varpro --out benchmarks/results/varpro_cpu2.json   # 23 min on 2 shared cores
    python -m benchmarks.bench_varpro --quick                                     # 200 resamples
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

import numpy as np

import jaxscale as js
import jaxscale._engine as engine
import jaxscale._solvers as solvers
from jaxscale._bootstrap import resample_weights

from ._common import chinchilla_data, emit, examples, machine, timed
from ._peers import blas_threads, log_data, run_isolated

RTOL = 1e-9


def say(msg):
    print(f"[bench_varpro] {msg}", file=sys.stderr, flush=True)


def _rel(a, b):
    return float((a - b) / abs(b))


def point_fit(df, repeats):
    say("jaxscale default plan (variable projection) ...")
    t0 = time.perf_counter()
    res = js.fit("chinchilla", df, progress=False)
    first = time.perf_counter() - t0
    warm_all = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        js.fit("chinchilla", df, progress=False)
        warm_all.append(time.perf_counter() - t0)
    say("jaxscale exhaustive grid (once, for its optimum) ...")
    t0 = time.perf_counter()
    grid = js.fit("chinchilla", df, starts="grid", progress=False)
    grid_s = time.perf_counter() - t0
    return res, grid, {
        "first_call_s": first, "warm_median_s": float(np.median(warm_all)),
        "warm_all_s": warm_all, "objective": res.objective, "n_starts": res.n_starts,
        "n_converged": res.n_converged, "plan": res.to_dict()["plan"],
        "grid_objective": grid.objective, "grid_first_call_s": grid_s,
        "rel_diff_vs_grid": _rel(res.objective, grid.objective),
        "reaches_grid_optimum": bool(res.objective <= grid.objective * (1 + RTOL)),
    }


def bootstrap(df, fit, n, workers, seed):
    say(f"jaxscale bootstrap, {n} resamples (first call, then one warm call) ...")
    first, warm, boot = timed(lambda: js.bootstrap(fit, n, seed=seed, progress=False, on_failure="ignore"), 1)
    say(f"scipy variable projection, {n} resamples over {workers} workers ...")
    W = resample_weights(len(df), n, seed)
    lN, lD, ly = log_data(df["N"], df["D"], df["loss"])
    peer = run_isolated("bootstrap", {"lN": lN, "lD": lD, "ly": ly, "W": W}, workers=workers)
    jf, pf = np.asarray(boot.objective), np.asarray(peer["objectives"])
    tol = RTOL * np.minimum(jf, pf)
    return {
        "n_resamples": n, "seed": seed,
        "jaxscale": {"first_call_s": first, "warm_s": warm, "starts_per_resample": boot.starts_per_resample,
                     "n_converged": boot.n_converged},
        "peer": {"method": "scipy variable projection per resample (32x32 exponent grid, weighted NNLS, "
                           "Nelder-Mead, L-BFGS-B from the 5 best), ProcessPool, OPENBLAS_NUM_THREADS=1",
                 "seconds": peer["seconds"], "workers": peer["workers"], "n_success": peer["n_success"],
                 "worker_blas_threads": peer["worker_blas_threads"]},
        "per_resample_quality": {
            "rtol": RTOL,
            "n_equal": int(np.sum(np.abs(jf - pf) <= tol)),
            "n_jaxscale_worse": int(np.sum(jf - pf > tol)),
            "n_peer_worse": int(np.sum(pf - jf > tol)),
            "max_rel_excess_jaxscale": float(np.max((jf - pf) / pf)),
            "max_rel_excess_peer": float(np.max((pf - jf) / jf)),
        },
        "ratio_peer_over_jaxscale_warm": peer["seconds"] / warm,
        "ratio_peer_over_jaxscale_first_call": peer["seconds"] / first,
    }


def cholesky_threshold(laws, n_starts, repeats):
    out = []
    ex = examples()
    saved = solvers.UNROLL_MAX
    try:
        for name in laws:
            law = js.get_law(name)
            data = ex.simulate(name, seed=0)
            row = {"law": name, "n_params": law.n_params, "n_starts": n_starts}
            order = (("unrolled", 64), ("cho_solve", 0))
            for label, limit in (order if len(out) % 2 == 0 else order[::-1]):  # alternate who compiles first
                say(f"cholesky: {name} ({law.n_params} params), {label} ...")
                solvers.UNROLL_MAX = limit
                engine._compiled.cache_clear()
                first, warm, res = timed(lambda: js.fit(law, data, starts="halton", n_starts=n_starts, progress=False,
                                                        on_failure="ignore"), repeats)
                row[label] = {"first_call_s": first, "warm_s": warm, "compile_s_est": first - warm,
                              "objective": res.objective, "n_converged": res.n_converged}
            row["objective_rel_diff"] = _rel(row["cho_solve"]["objective"], row["unrolled"]["objective"])
            out.append(row)
    finally:
        solvers.UNROLL_MAX = saved
        engine._compiled.cache_clear()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200 resamples, 2 repeats")
    ap.add_argument("--n", type=int, default=None, help="bootstrap resamples (default 4000; quick 200)")
    ap.add_argument("--repeats", type=int, default=None, help="warm repeats (default 7; quick 3)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--chol-laws",
                    default="saturating_power_law,kaplan,chinchilla,bnsl,data_constrained,kumar_precision,bnsl2",
                    help="laws for the unrolled-Cholesky measurement")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: fit,bootstrap,cholesky")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    n = args.n or (200 if args.quick else 4000)
    repeats = args.repeats or (3 if args.quick else 7)
    skip = set(filter(None, args.skip.split(",")))
    load_start = os.getloadavg()
    t_run = time.perf_counter()
    df, source = chinchilla_data()
    out = {"benchmark": "varpro_vs_scipy_varpro", "mode": "quick" if args.quick else "full",
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "data": source, "n_points": len(df),
           "objective": "summed Huber (delta 1e-3) of log residuals, log-sum-exp parametrisation"}
    fit = None
    if "fit" not in skip:
        fit, _, out["point_fit"] = point_fit(df, repeats)
        say("scipy variable projection (separate process, OPENBLAS_NUM_THREADS=1) ...")
        lN, lD, ly = log_data(df["N"], df["D"], df["loss"])
        peer = run_isolated("fit", {"lN": lN, "lD": lD, "ly": ly, "starts": js.chinchilla.default_starts()[:2]},
                            naive_starts=1, workers=1, vp_repeats=repeats + 1)
        v = peer["vp"]
        pf = out["point_fit"]
        pf["peer"] = {"method": "scipy variable projection (32x32 grid, NNLS, Nelder-Mead, L-BFGS-B from 5 best)",
                      "first_call_s": v["first_call_s"], "warm_median_s": v["warm_median_s"],
                      "best_objective": v["best_objective"], "n_success": v["n_success"],
                      "rel_diff_vs_grid": _rel(v["best_objective"], pf["grid_objective"]),
                      "blas_threads": peer["blas_threads_main"], "env": peer["env"]}
        pf["ratio_peer_over_jaxscale_warm"] = v["warm_median_s"] / pf["warm_median_s"]
    if "bootstrap" not in skip:
        if fit is None:
            fit = js.fit("chinchilla", df, progress=False)
        out["bootstrap"] = bootstrap(df, fit, n, args.workers, args.seed)
    if "cholesky" not in skip:
        out["cholesky_threshold"] = cholesky_threshold(args.chol_laws.split(","),
                                                       64, max(2, repeats // 2))
    out["machine"] = {**machine(), "load_average_start": load_start, "load_average_end": os.getloadavg(),
                      "blas_threads": blas_threads()}
    out["total_wall_s"] = time.perf_counter() - t_run
    return emit(out, args.out)


if __name__ == "__main__":
    main()
