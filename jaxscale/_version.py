"""The package version (its own module, so that lower modules never import the package __init__)."""

__version__ = "0.1.0"
