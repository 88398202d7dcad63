"""Handing memory freed after a load back to the operating system."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


_TRIM = _malloc_trim()


def release_freed_memory() -> None:
    """Collect garbage, then ask glibc to return its free pages (CPython and glibc keep
    freed memory for reuse, so RSS would stay at its peak after a load)."""
    gc.collect()
    if _TRIM is not None:
        _TRIM(0)
