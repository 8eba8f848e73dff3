"""The peers jaxscale is measured against, written as a careful researcher would write them.

Every peer fits Chinchilla's law ``L = E + A / N^alpha + B / D^beta`` by minimising the same
objective as jaxscale: the summed Huber loss (``delta = 1e-3``) of the log residuals in the
log-sum-exp parametrisation ``u = (log E, log A, log B, alpha, beta)``,
``log L = LSE(log A - alpha log N, log B - beta log D, log E)`` (Hoffmann et al. 2022; Besiroglu
et al. 2024, arXiv:2404.10102), optionally weighted by bootstrap counts.

* :func:`tuned_objective`: value and analytic gradient with a hand-written log-sum-exp (max, exp,
  sum, log in NumPy). :func:`naive_objective` is the same with ``scipy.special.logsumexp``, whose
  call overhead dominates on 240 points (kept only as the "naive loop" row).
* :func:`lbfgs_loop`: scipy L-BFGS-B from every start, one after the other;
  :func:`pool_loop`: the same over a ``ProcessPoolExecutor``.
* :func:`vp_fit`: variable projection: for given exponents ``(alpha, beta)`` the law is linear in
  ``(E, A, B)``, solved by non-negative least squares on the linear (MSE) problem; a 32 x 32 grid
  over the exponents, Nelder-Mead on the exponents from the best grid points, then L-BFGS-B on the
  Huber-log objective from the 5 best.
* :func:`vp_bootstrap`: :func:`vp_fit` for every bootstrap resample, over a process pool.

This module imports no JAX: the scipy peers run in a separate process started with
``OPENBLAS_NUM_THREADS=1`` (BLAS threads on 3 x 3 problems only cost time), see :func:`run_isolated`;
the thread counts in force are read back with threadpoolctl and reported.

    python -m benchmarks._peers SPEC.json     # used by bench_fit / bench_bootstrap; prints JSON
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

DELTA = 1e-3
SINGLE_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# The start loops use L-BFGS-B's defaults (the fastest setting: the best of many starts still lands
# within ~1e-11 of the optimum, though few single starts get within 1e-9). The variable-projection
# polish needs tighter ones: from the Nelder-Mead point the defaults stop at once (gtol 1e-5).
POLISH_OPTIONS = {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 15000}


def log_data(N, D, loss):
    return np.log(np.asarray(N, float)), np.log(np.asarray(D, float)), np.log(np.asarray(loss, float))


def tuned_objective(u, lN, lD, ly, delta=DELTA, w=None):
    """Summed (weighted) Huber of log residuals and its gradient; hand-written log-sum-exp."""
    e, a, b, al, be = u
    t0 = a - al * lN
    t1 = b - be * lD
    m = np.maximum(np.maximum(t0, t1), e)
    s0, s1, s2 = np.exp(t0 - m), np.exp(t1 - m), np.exp(e - m)
    z = s0 + s1 + s2
    r = ly - (m + np.log(z))
    ar = np.abs(r)
    rho = np.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta))
    psi = np.clip(r, -delta, delta) / z
    if w is not None:
        rho = rho * w
        psi = psi * w
    p0, p1 = psi * s0, psi * s1
    grad = np.array([-(psi @ s2), -p0.sum(), -p1.sum(), p0 @ lN, p1 @ lD])
    return float(rho.sum()), grad


def naive_objective(u, lN, lD, ly, delta=DELTA, w=None):
    """The same objective through ``scipy.special.logsumexp`` (the benchmark's original peer)."""
    from scipy.special import logsumexp

    e, a, b, al, be = u
    t = np.stack([a - al * lN, b - be * lD, np.full_like(lN, e)])
    m = logsumexp(t, axis=0)
    r = ly - m
    ar = np.abs(r)
    rho = np.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta))
    psi = np.clip(r, -delta, delta)
    if w is not None:
        rho, psi = rho * w, psi * w
    soft = np.exp(t - m)
    dm = np.stack([soft[2], soft[0], soft[1], -soft[0] * lN, -soft[1] * lD])
    return float(np.sum(rho)), -dm @ psi


def lbfgs_loop(starts, lN, lD, ly, delta=DELTA, w=None, naive=False):
    """L-BFGS-B from every start; returns (objective per start, u per start, success per start)."""
    from scipy.optimize import minimize

    obj = naive_objective if naive else tuned_objective
    f = np.full(len(starts), np.inf)
    us = np.array(starts, dtype=float, copy=True)
    ok = np.zeros(len(starts), bool)
    for i, u0 in enumerate(starts):
        r = minimize(obj, u0, args=(lN, lD, ly, delta, w), jac=True, method="L-BFGS-B")
        if np.isfinite(r.fun):
            f[i], us[i] = r.fun, r.x
        ok[i] = r.success
    return f, us, ok


def blas_threads() -> dict:
    """Thread counts of the BLAS / OpenMP libraries loaded in this process (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {"threadpoolctl": "not installed"}
    return {f"{i['internal_api']}:{Path(i['filepath']).name}": i["num_threads"] for i in threadpool_info()}


def _chunk_loop(args):
    starts, lN, lD, ly, delta = args
    f, u, ok = lbfgs_loop(starts, lN, lD, ly, delta)
    return f, u, ok, blas_threads(), os.getpid()


def _pool(workers):
    import multiprocessing as mp

    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))


def pool_loop(starts, lN, lD, ly, delta=DELTA, workers=None, chunks_per_worker=4):
    """:func:`lbfgs_loop` over a spawned process pool; pool start-up is inside the timed call."""
    workers = workers or os.cpu_count()
    parts = np.array_split(np.asarray(starts), workers * chunks_per_worker)
    with _pool(workers) as ex:
        outs = list(ex.map(_chunk_loop, [(p, lN, lD, ly, delta) for p in parts]))
    f, u, ok = (np.concatenate([o[i] for o in outs]) for i in range(3))
    return f, u, ok, {"worker_blas_threads": outs[0][3], "n_worker_pids": len({o[4] for o in outs})}


def optax_lbfgs(starts, lN, lD, ly, delta=DELTA, steps=200):
    """The JAX peer: optax L-BFGS (zoom line search) for a fixed number of steps, vmapped over starts.

    Compiled ahead of time (``jit(...).lower(...).compile()``), so the returned ``run_s`` is the
    warm run alone; returns ``(objective per start, u per start, compile_s, run_s)``.
    """
    import jax
    import jax.numpy as jnp
    import optax

    with jax.enable_x64(True):
        lN, lD, ly = (jnp.asarray(v) for v in (lN, lD, ly))

        def f(u):
            t = jnp.stack([u[1] - u[3] * lN, u[2] - u[4] * lD, jnp.full_like(lN, u[0])])
            r = ly - jax.scipy.special.logsumexp(t, axis=0)
            ar = jnp.abs(r)
            return jnp.sum(jnp.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta)))

        opt = optax.lbfgs()
        value_and_grad = optax.value_and_grad_from_state(f)

        def one(u0):
            def step(carry, _):
                u, state = carry
                v, g = value_and_grad(u, state=state)
                upd, state = opt.update(g, state, u, value=v, grad=g, value_fn=f)
                return (optax.apply_updates(u, upd), state), None

            (u, _), _ = jax.lax.scan(step, (u0, opt.init(u0)), None, length=steps)
            return u, f(u)

        x = jnp.asarray(starts, dtype=jnp.float64)
        t0 = time.perf_counter()
        compiled = jax.jit(jax.vmap(one)).lower(x).compile()
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        u, fv = jax.block_until_ready(compiled(x))
        run_s = time.perf_counter() - t0
    fv = np.where(np.isfinite(np.asarray(fv)), np.asarray(fv), np.inf)
    return fv, np.asarray(u), compile_s, run_s


# ---------------------------------------------------------------------------------------------
# Variable projection
# ---------------------------------------------------------------------------------------------
def _vp_inner(ab, lN, lD, L, sw):
    """NNLS for (E, A, B) at exponents ab on the linear MSE problem; returns (rss, coef)."""
    from scipy.optimize import nnls

    cols = np.stack([np.ones_like(lN), np.exp(-ab[0] * lN), np.exp(-ab[1] * lD)], axis=1) * sw[:, None]
    scale = np.linalg.norm(cols, axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    c, rnorm = nnls(cols / scale, L * sw)
    return rnorm * rnorm, c / scale


def vp_fit(lN, lD, ly, w=None, delta=DELTA, grid=32, n_best=5, lo=0.0, hi=2.5):
    """Variable projection with scipy; returns (objective per polish, u per polish, success)."""
    from scipy.optimize import minimize

    L = np.exp(ly)
    sw = np.ones_like(L) if w is None else np.sqrt(w)
    exps = np.linspace(lo, hi, grid)
    rss = np.array([[_vp_inner((a, b), lN, lD, L, sw)[0] for b in exps] for a in exps])
    best = np.argsort(rss, axis=None)[:n_best]
    f = np.full(n_best, np.inf)
    us = np.zeros((n_best, 5))
    ok = np.zeros(n_best, bool)
    for k, flat in enumerate(best):
        i, j = np.unravel_index(flat, rss.shape)
        nm = minimize(lambda ab: _vp_inner(ab, lN, lD, L, sw)[0], [exps[i], exps[j]], method="Nelder-Mead",
                      options={"xatol": 1e-8, "fatol": 1e-14})
        c = np.maximum(_vp_inner(nm.x, lN, lD, L, sw)[1], 1e-12)  # a coefficient at the NNLS bound 0 -> tiny
        u0 = np.array([np.log(c[0]), np.log(c[1]), np.log(c[2]), nm.x[0], nm.x[1]])
        r = minimize(tuned_objective, u0, args=(lN, lD, ly, delta, w), jac=True, method="L-BFGS-B",
                     options=POLISH_OPTIONS)
        f[k], us[k], ok[k] = (r.fun, r.x, r.success) if np.isfinite(r.fun) else (np.inf, u0, False)
    return f, us, ok


def _vp_chunk(args):
    lN, lD, ly, W, delta = args
    outs = [vp_fit(lN, lD, ly, w=w, delta=delta) for w in W]
    best = np.array([np.argmin(o[0]) for o in outs])
    f = np.array([o[0][b] for o, b in zip(outs, best)])
    u = np.stack([o[1][b] for o, b in zip(outs, best)])
    ok = np.array([o[2][b] for o, b in zip(outs, best)])
    return f, u, ok, blas_threads()


def vp_bootstrap(lN, lD, ly, W, delta=DELTA, workers=2, chunks_per_worker=8):
    """:func:`vp_fit` for each row of bootstrap counts ``W`` over a spawned pool (start-up timed)."""
    parts = np.array_split(np.asarray(W), workers * chunks_per_worker)
    with _pool(workers) as ex:
        outs = list(ex.map(_vp_chunk, [(lN, lD, ly, p, delta) for p in parts]))
    f, u, ok = (np.concatenate([o[i] for o in outs]) for i in range(3))
    return f, u, ok, {"worker_blas_threads": outs[0][3]}


# ---------------------------------------------------------------------------------------------
# Running the peers in a separate single-threaded-BLAS process
# ---------------------------------------------------------------------------------------------
def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _summary(f, ok):
    return {"best_objective": float(np.min(f)), "objectives": [float(v) for v in f], "n_success": int(np.sum(ok))}


def _task_fit(spec, arrays):
    lN, lD, ly, starts = arrays["lN"], arrays["lD"], arrays["ly"], arrays["starts"]
    out = {"blas_threads_main": blas_threads(), "env": {k: os.environ.get(k) for k in SINGLE_THREAD_ENV}}
    vp_times = []
    for _ in range(spec.get("vp_repeats", 5)):
        t, (f, u, ok) = _timed(lambda: vp_fit(lN, lD, ly))
        vp_times.append(t)
    out["vp"] = {"first_call_s": vp_times[0], "warm_median_s": float(np.median(vp_times[1:] or vp_times)),
                 "u_best": u[np.argmin(f)].tolist(), **_summary(f, ok)}
    t, (f, u, ok) = _timed(lambda: lbfgs_loop(starts, lN, lD, ly))
    out["serial"] = {"seconds": t, "n_starts": len(starts), "u_best": u[np.argmin(f)].tolist(), **_summary(f, ok)}
    workers = spec.get("workers") or os.cpu_count()
    t, (f, u, ok, info) = _timed(lambda: pool_loop(starts, lN, lD, ly, workers=workers))
    out["pool"] = {"seconds": t, "workers": workers, "n_starts": len(starts), **info, **_summary(f, ok)}
    sub = starts[np.linspace(0, len(starts) - 1, min(spec["naive_starts"], len(starts))).astype(int)]
    t, (f, u, ok) = _timed(lambda: lbfgs_loop(sub, lN, lD, ly, naive=True))
    out["naive"] = {"seconds_timed": t, "n_starts_timed": len(sub), **_summary(f, ok)}
    return out


def _task_bootstrap(spec, arrays):
    lN, lD, ly, W = arrays["lN"], arrays["lD"], arrays["ly"], arrays["W"]
    t, (f, u, ok, info) = _timed(lambda: vp_bootstrap(lN, lD, ly, W, workers=spec["workers"]))
    return {"blas_threads_main": blas_threads(), "seconds": t, "workers": spec["workers"], "n_resamples": len(W),
            "objectives": f.tolist(), "u": u.tolist(), "n_success": int(ok.sum()), **info}


def run_isolated(task: str, arrays: dict, **spec) -> dict:
    """Run a peer task in a fresh Python process with single-threaded BLAS; returns its JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "arrays.npz", **arrays)
        spec = {"task": task, "arrays": str(Path(tmp) / "arrays.npz"), **spec}
        env = {**os.environ, **SINGLE_THREAD_ENV}
        root = Path(__file__).resolve().parents[1]
        proc = subprocess.run([sys.executable, "-m", "benchmarks._peers", json.dumps(spec)], env=env, cwd=root,
                              capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"peer process failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    spec = json.loads((argv or sys.argv[1:])[0])
    arrays = dict(np.load(spec["arrays"]))
    out = {"fit": _task_fit, "bootstrap": _task_bootstrap}[spec["task"]](spec, arrays)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
