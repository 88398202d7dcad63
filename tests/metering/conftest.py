"""The protected app of the enforcement tests, reused here."""

from tests.enforcement.conftest import protected

__all__ = ["protected"]
