"""No LAPACK in the compiled programs: jaxlib's CPU LAPACK kernels split a batch over XLA's
intra-op thread pool and block until the pieces finish, so two of them running concurrently in
one program deadlock a 2-thread pool (a 2-core CI machine). The solvers use their own small
Cholesky instead (``jaxscale._solvers.spd_solve``); these tests keep it that way."""

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import jaxscale as js
    data = js.synthetic_chinchilla()
    fit = js.fit("chinchilla", data, progress=False)                                   # varpro plan
    js.fit("chinchilla", data, starts="halton", n_starts=8, progress=False)            # LM engine
    js.fit("chinchilla", data, starts="halton", n_starts=8, solver="newton", progress=False)
    js.bootstrap(fit, 16, progress=False)
    js.bootstrap(fit, 16, scheme="residual", progress=False)
    js.fit_isoflop(data, n_resamples=16)
""")


def _dump_programs(tmp_path: pathlib.Path) -> list[pathlib.Path]:
    env = {**os.environ, "XLA_FLAGS": f"--xla_dump_to={tmp_path} --xla_dump_hlo_as_text",
           "JAX_PLATFORMS": "cpu"}
    subprocess.run([sys.executable, "-c", SCRIPT], env=env, check=True, timeout=600, capture_output=True)
    return sorted(tmp_path.glob("*after_optimizations.txt"))


def test_compiled_programs_call_no_lapack(tmp_path):
    programs = _dump_programs(tmp_path)
    assert len(programs) >= 5, [p.name for p in programs]  # the script compiled the solver programs
    offenders = [p.name for p in programs if "lapack" in p.read_text()]
    assert not offenders, f"LAPACK custom calls in {offenders}"


def test_two_concurrent_batched_solves_finish():
    """The program shape that deadlocked with LAPACK (two independent batched 5x5 Cholesky solves
    in one jit program, 8,192 systems) runs to completion."""
    code = textwrap.dedent("""
        import jax, jax.numpy as jnp
        jax.config.update("jax_enable_x64", True)
        from jaxscale._solvers import spd_solve
        g = jax.jit(jax.vmap(lambda a, b: spd_solve(a, b) + spd_solve(a + 2 * jnp.eye(5), b)))
        m = jax.random.normal(jax.random.PRNGKey(0), (8192, 5, 5))
        a = m @ jnp.swapaxes(m, -1, -2) + jnp.eye(5)
        for i in range(20):
            x = g(a + i * 1e-9, jnp.ones((8192, 5))).block_until_ready()
        assert bool(jnp.all(jnp.isfinite(x)))
        print("ok")
    """)
    try:
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "JAX_PLATFORMS": "cpu"},
                             capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.fail("two concurrent batched solves did not finish in 180 s (deadlock)")
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
