"""Persistent compilation cache: off unless asked, on in the CLI (unless --no-cache / JAXSCALE_NO_CACHE),
and a second process reuses the first one's compiled programs."""

import json
import os
import subprocess
import sys

import jax
import pytest

import jaxscale as js
from jaxscale import _cache, _cli

# One child process: import jaxscale (must not enable the cache), then enable it in a given folder,
# compile a small program and report how many compiles the persistent cache answered.
_CHILD = """
import json, sys
import jax, jax.monitoring
hits = []
jax.monitoring.register_event_listener(lambda name, **kw: hits.append(name) if name.endswith("cache_hits") else None)
import jaxscale as js
before = jax.config.jax_compilation_cache_dir
folder = js.enable_compilation_cache(sys.argv[1])
jax.jit(lambda x: (x * 2.0 + 1.0).sum())(jax.numpy.arange(7.0)).block_until_ready()
print(json.dumps({"before": before, "folder": str(folder), "hits": len(hits)}))
"""


def test_import_does_not_enable_and_second_process_reuses(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}  # no cache set from outside
    env["JAX_PLATFORMS"] = "cpu"
    runs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "xla")], env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert runs[0]["before"] is None  # importing jaxscale left JAX's configuration alone
    assert runs[0]["folder"] == str(tmp_path / "xla") and any((tmp_path / "xla").iterdir())
    assert runs[0]["hits"] == 0 and runs[1]["hits"] >= 1  # the second process loaded, not compiled


def test_default_dir_respects_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("JAXSCALE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _cache.default_cache_dir() == tmp_path / "jaxscale" / "xla"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _cache.default_cache_dir() == tmp_path / "home" / ".cache" / "jaxscale" / "xla"
    monkeypatch.setenv("JAXSCALE_CACHE_DIR", str(tmp_path / "own"))
    assert _cache.default_cache_dir() == tmp_path / "own"


def test_bad_path_raises(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        js.enable_compilation_cache(f)


@pytest.mark.parametrize("argv, env, expected", [
    (["fit", "missing.csv"], None, 1),
    (["--no-cache", "fit", "missing.csv"], None, 0),
    (["fit", "missing.csv", "--no-cache"], None, 0),
    (["fit", "missing.csv"], "1", 0),
    (["fit", "missing.csv"], "0", 1),
])
def test_cli_enables_cache_unless_told_not_to(monkeypatch, argv, env, expected):
    calls = []
    monkeypatch.setattr(_cli, "enable_compilation_cache", lambda *a, **k: calls.append(a))
    if env is None:
        monkeypatch.delenv("JAXSCALE_NO_CACHE", raising=False)
    else:
        monkeypatch.setenv("JAXSCALE_NO_CACHE", env)
    assert _cli.main(argv) == 2  # the missing file is reported after the cache decision
    assert len(calls) == expected
