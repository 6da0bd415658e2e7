"""Sourdine: a local proxy that keeps outrage and negativity out of social media feeds."""

__version__ = "0.1.0"
