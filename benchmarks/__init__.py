"""jaxscale benchmarks: scripts that print JSON. Never part of the unit tests."""
