"""The batch engine: one compiled, fixed-shape solve over many starts (and many data sets).

:func:`solve_batch` runs a solver from every start under ``jax.vmap`` (and over a leading batch
axis of data sets for groups and resamples), in equal padded chunks so that every chunk has one
shape and compiles once, sharded over all devices along the batch axis. The compiled programs are
cached per (law, objective, solver, steps, xtol, batched) configuration.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import signal
import threading
from typing import Mapping

import jax
import numpy as np

from ._config import precision, resolve_dtype
from ._objectives import Objective
from ._solvers import Problem, SolverSpec, diagnose, minimize
from ._status import bound_limits
from .laws import Law

__all__ = ["StartResults", "model_output", "target_space", "solve_batch", "batch_sharding", "continue_batch", "chunk_rows"]


@dataclasses.dataclass(frozen=True)
class StartResults:
    """Per-start outcome (arrays over starts): unconstrained parameters and status."""

    u: np.ndarray
    objective: np.ndarray
    grad_norm: np.ndarray
    newton_step: np.ndarray
    converged: np.ndarray

    @property
    def status(self) -> np.ndarray:
        """``"converged"``, ``"not_converged"`` or ``"nonfinite"`` for every start."""
        out = np.where(self.converged, "converged", "not_converged")
        return np.where(np.isfinite(self.objective), out, "nonfinite")


def model_output(law: Law, objective: Objective, params, x):
    """The law's output in the objective's space (see :meth:`Objective.model_output`)."""
    return objective.model_output(law, params, x)


def target_space(objective: Objective, y: np.ndarray) -> np.ndarray:
    """The target in the objective's space (see :meth:`Objective.target`)."""
    return objective.target(y)


def _problem(law: Law, objective: Objective, x, y, w) -> Problem:
    return Problem(lambda u: model_output(law, objective, law.constrain(u), x), y, w, objective)


@functools.lru_cache(maxsize=256)
def _compiled(law: Law, objective: Objective, solver: SolverSpec, n_steps: int, xtol: float, batched_data: bool):
    phases = solver.phases(n_steps)
    lower, upper = bound_limits(law)

    def one_start(u0, x, y, w):
        problem = _problem(law, objective, x, y, w)
        u, _ = minimize(phases, problem, u0)
        d = diagnose(problem, u, xtol, lower, upper)
        return u, d.objective, d.grad_norm, d.newton_step, d.converged

    over_starts = jax.vmap(one_start, in_axes=(0, None, None, None))
    if batched_data:
        over_starts = jax.vmap(over_starts, in_axes=(0, 0, 0, 0))
    return jax.jit(over_starts)


#: Most items (resamples, groups) in one default chunk: a chunk is the unit of progress and of
#: Ctrl-C (an interrupt takes effect between chunks), and on this project's 2-core CPU 2 x 4,096
#: resamples of the 135-point Chinchilla bootstrap ran in 15.2 s against 14.4 s as one chunk.
#: (The cap was first added for a chunk of 8,192 that never returned; that hang was a deadlock of
#: two concurrent LAPACK kernels in XLA's 2-thread pool, fixed in ``_solvers.spd_solve``.)
#: ``chunk_size=`` overrides it.
MAX_CHUNK_ITEMS = 4096


def _chunks(total: int, work_per_item: int, chunk_size: int | None, budget: int = 2**23,
            max_items: int | None = None) -> int:
    """Items per chunk: all at once while ``total * work_per_item`` fits the budget (and, with
    ``max_items``, at most that many)."""
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be a positive integer")
        return min(int(chunk_size), total)
    n_chunks = max(1, math.ceil(total * work_per_item / budget))
    if max_items is not None:
        n_chunks = max(n_chunks, math.ceil(total / max_items))
    return math.ceil(total / n_chunks)


def batch_sharding(size: int):
    """Shard the leading (resample or group) axis over all devices with a 1-d Mesh."""
    devices = jax.devices()
    if len(devices) < 2 or size % len(devices):
        return None
    mesh = jax.sharding.Mesh(np.asarray(devices), ("batch",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))


def fetch(tree):
    """Device arrays to NumPy; arrays sharded over several processes are all-gathered first."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        tree = jax.tree.map(lambda a: a if a.is_fully_addressable else
                            multihost_utils.process_allgather(a, tiled=True), tree)
    return jax.device_get(tree)


def solve_batch(law: Law, objective: Objective, solver: SolverSpec, starts, x: Mapping | None, y, w, *,
                n_steps: int, xtol: float, batched_data: bool = False, chunk_size: int | None = None,
                progress: bool = False, dtype=np.float64, n_batch: int | None = None, data_fn=None,
                n_points: int | None = None, reduce=None, what: str | None = None):
    """Run the solver from every start; the engine behind :func:`fit` and the bootstrap.

    Without ``batched_data``: ``starts`` is ``(S, P)`` and ``x``/``y``/``w`` hold one data set of
    ``n`` points. With ``batched_data``: the data have a leading batch axis ``B`` (groups or
    resamples) and ``starts`` is ``(B, S, P)``, or ``(S, P)`` shared by every item (broadcast one
    chunk at a time, never materialised for all of ``B``). Instead of batched arrays, ``data_fn(lo,
    hi)`` may return ``(x, y, w)`` for items ``lo:hi`` (``n_batch`` items of ``n_points`` points; it
    is called once per chunk, in order), or ``(x, y, w, starts)`` with the chunk's own starts
    ``(hi - lo, S, P)`` (``starts`` then only sizes the chunks), so data
    such as bootstrap weights are generated one chunk at a time. ``y`` is in the objective's space
    (log already taken for log objectives). Work is split into equal chunks along the leading axis
    (the last one padded with copies of its first item, so every chunk has one shape and compiles
    once).

    ``reduce(StartResults) -> tuple of arrays`` (default: the five fields) is applied to every
    chunk's output before it is kept, so a caller that needs only the best start per item keeps
    ``O(B)`` numbers, not ``O(B * S)``. Memory is then ``O(chunk)`` working space plus the reduced
    outputs. Returns a :class:`StartResults` (no ``reduce``) or the concatenated tuple.

    Ctrl-C between chunks raises :class:`~jaxscale.Interrupted` (a ``KeyboardInterrupt``) that says
    how many of the items (``what``: starts, groups, resamples) were done; a Ctrl-C whose
    ``KeyboardInterrupt`` Python swallowed (raised inside a garbage-collector callback) still stops
    the loop at the next chunk (:func:`watch_ctrl_c`).
    """
    from ._status import Interrupted

    dtype = resolve_dtype(dtype)
    fn = _compiled(law, objective, solver, int(n_steps), float(xtol), bool(batched_data or data_fn is not None))
    starts = np.asarray(starts)
    if data_fn is not None:
        batched_data = True
        total = int(n_batch)
    elif batched_data:
        total = int(np.shape(y)[0])
        xb, yb, wb = x, y, w
        data_fn = lambda lo, hi: ({k: v[lo:hi] for k, v in xb.items()}, yb[lo:hi], wb[lo:hi])
    else:
        total = starts.shape[0]
    shared = batched_data and starts.ndim == 2
    n_starts = (starts.shape[0] if shared else starts.shape[1]) if batched_data else 1
    n = int(n_points) if n_points is not None else int(np.shape(y)[-1])
    what = what or ("items" if batched_data else "starts")
    size = chunk_rows(law, total, n_starts, n, chunk_size, batched_data)
    n_chunks = math.ceil(total / size)

    def pad(a, k):
        a = np.asarray(a, dtype=dtype)
        if k == 0:
            return a
        return np.concatenate([a, np.repeat(a[:1], k, axis=0)], axis=0)

    keep_all = reduce is None
    if keep_all:
        reduce = lambda r: (r.u, r.objective, r.grad_norm, r.newton_step, r.converged)
    outs = []
    bar = None
    if progress and n_chunks > 1:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=f"fitting {law.name}", unit=what.rstrip("s") if what.endswith("s") else what,
                   delay=1.0)  # no bar for sub-second fits
    shard = batch_sharding(size) if batched_data else None
    done, pending = 0, None
    try:
        with precision(dtype), watch_ctrl_c() as ctrl_c:
            if not batched_data:
                xs = {k: np.asarray(v, dtype=dtype) for k, v in x.items()}
                ys, ws = np.asarray(y, dtype=dtype), np.asarray(w, dtype=dtype)
            for c in range(n_chunks):
                lo, hi = c * size, min((c + 1) * size, total)
                k = size - (hi - lo)
                if batched_data:
                    chunk = data_fn(lo, hi)
                    cx, cy, cw = chunk[:3]
                    if len(chunk) == 4:  # the chunk's own starts (B_chunk, S, P)
                        cs = chunk[3]
                    else:
                        cs = np.broadcast_to(starts, (hi - lo,) + starts.shape) if shared else starts[lo:hi]
                    args = (pad(cs, k), {name: pad(v, k) for name, v in cx.items()}, pad(cy, k), pad(cw, k))
                    if shard is not None:
                        args = jax.device_put(args, shard)
                else:
                    args = (pad(starts[lo:hi], k), xs, ys, ws)
                pending = fn(*args)
                out = fetch(pending)
                pending = None
                res = StartResults(*(np.asarray(o)[:hi - lo] for o in out[:4]),
                                   np.asarray(out[4])[:hi - lo].astype(bool))
                outs.append(reduce(res))
                done = hi
                if bar is not None:
                    bar.update(hi - lo)
                if ctrl_c.hit and hi < total:  # a Ctrl-C whose KeyboardInterrupt was swallowed
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        if pending is not None:  # let the chunk in flight finish: exiting under it can crash XLA
            try:
                jax.block_until_ready(pending)
            except Exception:  # pragma: no cover - whatever it was, we are stopping
                pass
        raise Interrupted(done, total, what) from None
    finally:
        if bar is not None:
            bar.close()
    parts = tuple(np.concatenate([o[i] for o in outs], axis=0) for i in range(len(outs[0])))
    return StartResults(*parts) if keep_all else parts


class _CtrlC:
    """Remembers a Ctrl-C for the chunk loops of :func:`solve_batch`.

    Python turns SIGINT into a ``KeyboardInterrupt`` raised in whatever Python code runs at that
    moment; when that is a garbage-collector callback (JAX registers one), Python ignores the
    exception and the loop would run on. While :func:`watch_ctrl_c` is active, the handler also
    sets ``hit``, and the loop stops at the next chunk boundary whatever happened to the exception.
    """

    hit = False
    depth = 0


@contextlib.contextmanager
def watch_ctrl_c():
    """Install the remembering SIGINT handler (main thread, default handler only; nestable)."""
    install = (_CtrlC.depth == 0 and threading.current_thread() is threading.main_thread()
               and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if install:

        def handler(signum, frame):
            _CtrlC.hit = True
            raise KeyboardInterrupt

        _CtrlC.hit = False
        previous = signal.signal(signal.SIGINT, handler)
    _CtrlC.depth += 1
    try:
        yield _CtrlC
    finally:
        _CtrlC.depth -= 1
        if install:
            signal.signal(signal.SIGINT, previous)
            _CtrlC.hit = False


#: Work (starts x points x parameters) per CPU core in one chunk of starts on one data set. The
#: solver sweeps the whole chunk once per step, so a chunk whose Jacobians fit the cores' caches
#: runs faster: the 4,500-start Epoch grid (240 points, 5 parameters) on this project's 2-core CPU
#: (1 MiB L2 per core) took 1.73 s in one chunk, 1.43 s in chunks of 1,125, 1.12-1.31 s in chunks of
#: 192-256, 1.62 s of 128 (medians of 3 at b88ab5a; benchmarks/results/fit_cpu2_v4.json has the
#: default's 1.02 s). Accelerators keep big chunks (``_chunks``' default budget).
CPU_WORK_PER_CORE = 2**17


def _cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def chunk_rows(law: Law, total: int, n_starts: int, n_points: int, chunk_size: int | None, batched_data: bool) -> int:
    """Items per chunk that :func:`solve_batch` uses for ``total`` items of ``n_starts`` starts on
    ``n_points`` points (one compiled shape per chunk size). Starts on one data set are chunked to
    fit the CPU's caches (:data:`CPU_WORK_PER_CORE`); batched data sets (resamples, groups) are
    not, since each chunk there also pays for its own start search and continuation."""
    if batched_data:
        size = _chunks(total, n_points * law.n_params * n_starts, chunk_size, max_items=MAX_CHUNK_ITEMS)
    elif jax.default_backend() == "cpu":
        size = _chunks(total, n_points * law.n_params, chunk_size, budget=CPU_WORK_PER_CORE * _cpu_cores())
    else:
        size = _chunks(total, n_points * law.n_params, chunk_size)
    n_dev = jax.device_count()
    if batched_data and n_dev > 1:
        size = math.ceil(size / n_dev) * n_dev
    return size


def _pick(objective: np.ndarray, converged: np.ndarray, k: int) -> np.ndarray:
    """Indices (``k``, along the last axis) of the lowest-objective unconverged finite starts, padded
    with repeats of the first pick so every round has one shape."""
    f = np.where(np.isfinite(objective) & ~converged, objective, np.inf)
    order = np.argsort(f, axis=-1, kind="stable")[..., :k]
    n_ok = np.sum(np.isfinite(f), axis=-1, keepdims=True)
    slot = np.arange(order.shape[-1])
    return np.where(slot < np.maximum(n_ok, 1), order, order[..., :1])


def _best_unconverged(res: StartResults) -> np.ndarray:
    """Per data set (leading axes): whether the lowest finite objective belongs to an unconverged start."""
    f = np.where(np.isfinite(res.objective), res.objective, np.inf)
    i = np.argmin(f, axis=-1)
    conv = np.take_along_axis(res.converged, i[..., None], axis=-1)[..., 0]
    finite = np.isfinite(np.take_along_axis(f, i[..., None], axis=-1)[..., 0])
    return finite & ~conv


def continue_batch(law: Law, objective: Objective, solver: SolverSpec, res: StartResults, x: Mapping, y, w, *,
                   n_steps: int, xtol: float, max_rounds: int, n_continue: int, batched_data: bool = False,
                   chunk_size: int | None = None, dtype=np.float64, rows_per_batch: int | None = None,
                   per_item: bool = False) -> tuple[StartResults, int | np.ndarray]:
    """Continue the most promising unconverged starts while the best start has not converged.

    Each round takes, per data set, the ``n_continue`` unconverged starts with the lowest objective
    (padded with repeats: one shape, so one compiled program for every round), runs the solver
    ``n_steps`` more steps from where they stopped (damping reset), and writes their new end points
    back. Rounds stop when every data set's best start has converged, when a round lowers no
    data set's best objective, or after ``max_rounds``. Returns ``(results, rounds_run)``, or with
    ``per_item`` ``(results, rounds)`` where ``rounds`` counts, per data set (leading axes), the
    rounds it took part in (its best start not converged).

    ``rows_per_batch`` (batched data): pad every round to a multiple of this many data sets, so a
    caller that solves its data in chunks of that size reuses its compiled program (default: the
    chunk size :func:`solve_batch` would choose for these data sets).
    """
    rounds = 0
    item_rounds = np.zeros(np.shape(res.objective)[:-1], dtype=np.int32)
    if max_rounds < 1 or n_continue < 1:
        return res, (item_rounds if per_item else 0)
    u, f, g, s, c = (np.array(a) for a in (res.u, res.objective, res.grad_norm, res.newton_step, res.converged))
    k = min(int(n_continue), f.shape[-1])
    while rounds < max_rounds:
        cur = StartResults(u, f, g, s, c)
        todo = _best_unconverged(cur)
        if not np.any(todo):
            break
        item_rounds += todo
        best_before = np.min(np.where(np.isfinite(f), f, np.inf), axis=-1)
        idx = _pick(f, c, k)
        starts = np.take_along_axis(u, idx[..., None], axis=-2)
        if batched_data:
            # only the data sets whose best start has not converged, padded to the first batch's
            # chunk shape (so the compiled program is reused)
            rows = np.nonzero(todo)[0]
            size = rows_per_batch or chunk_rows(law, starts.shape[0], starts.shape[1], np.shape(y)[-1], chunk_size, True)
            n_pad = -(-rows.shape[0] // size) * size - rows.shape[0]
            sel = np.concatenate([rows, np.repeat(rows[:1], n_pad)])
            sub = solve_batch(law, objective, solver, starts[sel], {kk: np.asarray(v)[sel] for kk, v in x.items()},
                              np.asarray(y)[sel], np.asarray(w)[sel], n_steps=n_steps, xtol=xtol, batched_data=True,
                              chunk_size=size, progress=False, dtype=dtype)
            full = [np.array(a) for a in (starts, np.take_along_axis(f, idx, -1), np.take_along_axis(g, idx, -1),
                                          np.take_along_axis(s, idx, -1), np.take_along_axis(c, idx, -1))]
            for a, v in zip(full, (sub.u, sub.objective, sub.grad_norm, sub.newton_step, sub.converged)):
                a[rows] = v[:rows.shape[0]]
            new = StartResults(*full)
        else:
            new = solve_batch(law, objective, solver, starts, x, y, w, n_steps=n_steps, xtol=xtol,
                              chunk_size=chunk_size, progress=False, dtype=dtype)
        rounds += 1
        # Keep a start's old end point where the continuation got worse (it never should: LM is monotone).
        old_f = np.take_along_axis(f, idx, axis=-1)
        keep_new = np.isfinite(new.objective) & ~(new.objective > old_f)
        if batched_data:
            keep_new &= todo[:, None]  # data sets whose best start has converged are left as they are
        iu = np.broadcast_to(idx[..., None], new.u.shape)
        np.put_along_axis(u, iu, np.where(keep_new[..., None], new.u, np.take_along_axis(u, iu, axis=-2)), axis=-2)
        for arr, val in ((f, new.objective), (g, new.grad_norm), (s, new.newton_step), (c, new.converged)):
            np.put_along_axis(arr, idx, np.where(keep_new, val, np.take_along_axis(arr, idx, axis=-1)), axis=-1)
        best_after = np.min(np.where(np.isfinite(f), f, np.inf), axis=-1)
        newly = ~_best_unconverged(StartResults(u, f, g, s, c))
        if not np.any((best_after < best_before) | (newly & todo)):
            break
    return StartResults(u, f, g, s, c), (item_rounds if per_item else rounds)
