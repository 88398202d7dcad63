"""The adjustments' enforcement tests use the protected app of the enforcement tests."""

from tests.enforcement.conftest import protected

__all__ = ["protected"]
