"""``python -m benchmarks``: run the whole benchmark suite (see :mod:`benchmarks.suite`)."""

from .suite import main

main()
