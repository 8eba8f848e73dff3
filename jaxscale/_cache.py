"""Persistent compilation cache: compile each program once per machine, not once per process.

A fresh Python process compiles every jaxscale program it runs (about 5 s for a Chinchilla fit on
a 2-core CPU). JAX can keep compiled programs on disk and load them on the next run. The library
never turns this on by itself (it changes JAX's global configuration); call
:func:`enable_compilation_cache` once, or use the command line, which enables it by default
(``jaxscale --no-cache ...`` or ``JAXSCALE_NO_CACHE=1`` turns it off).
"""

from __future__ import annotations

import os
from pathlib import Path

import jax


def default_cache_dir() -> Path:
    """``$JAXSCALE_CACHE_DIR``, else ``$XDG_CACHE_HOME/jaxscale/xla``, else ``~/.cache/jaxscale/xla``."""
    if os.environ.get("JAXSCALE_CACHE_DIR"):
        return Path(os.environ["JAXSCALE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jaxscale" / "xla"


def cache_disabled_by_env() -> bool:
    """True when ``JAXSCALE_NO_CACHE`` is set to anything but ``""``, ``"0"`` or ``"false"``."""
    return os.environ.get("JAXSCALE_NO_CACHE", "").strip().lower() not in ("", "0", "false", "no")


def enable_compilation_cache(path=None, *, min_compile_time_s: float | None = None) -> Path:
    """Turn on JAX's persistent compilation cache, so later processes reuse compiled programs.

    This sets JAX's global options ``jax_compilation_cache_dir`` and
    ``jax_persistent_cache_min_compile_time_secs`` for the whole process (the library never does
    so unless asked). Entries are keyed by the program, the JAX/XLA version and the device, so a
    stale or foreign entry is never used; delete the folder to reclaim space.

    Args:
      path: cache folder. ``None``: a folder already configured in JAX (e.g. through
        ``JAX_COMPILATION_CACHE_DIR``) if there is one, else :func:`default_cache_dir`
        (``~/.cache/jaxscale/xla``, respecting ``XDG_CACHE_HOME`` and ``JAXSCALE_CACHE_DIR``).
      min_compile_time_s: only programs that took at least this long to compile are stored.
        ``None``: JAX's own setting when the folder came from JAX's configuration, else 0 (every
        program: a fit runs several small ones whose compile times add up).

    Returns the cache folder (created if missing).

    Example::

        import jaxscale as js
        js.enable_compilation_cache()     # the next process fitting the same shapes skips compiling
    """
    configured = jax.config.jax_compilation_cache_dir
    if path is None:
        path = configured or default_cache_dir()
    if min_compile_time_s is None:
        min_compile_time_s = jax.config.jax_persistent_cache_min_compile_time_secs if configured and path == configured else 0.0
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"compilation cache path {str(folder)!r} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    if float(min_compile_time_s) < 0:
        raise ValueError("min_compile_time_s must be >= 0")
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_s))
    from jax.experimental.compilation_cache import compilation_cache

    compilation_cache.reset_cache()  # a cache JAX already set up (or declined) in this process is re-read
    return folder
