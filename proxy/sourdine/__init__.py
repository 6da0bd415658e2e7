"""Sourdine: a local proxy that keeps outrage and negativity out of social media feeds."""

__version__ = "0.1.0"

from sourdine import native  # noqa: E402

# The compiled modules, when built from these sources (sourdine.native): their shared library lives here.
__path__ = native.package_path(__name__, __path__)
