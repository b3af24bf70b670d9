"""Hand memory the previous step freed back to the OS before a step loads its input.

With the in-process executor every step of a run shares one process. Two things kept a finished
step's day of rows resident while the next step loaded its own: DataFrames caught in reference
cycles live until Python's next full collection, and freed pages stay with the allocator that
freed them (Arrow's pool keeps them for Arrow, glibc for Python), while the next step allocates
through another one (DuckDB's).
Measured on a 1M-order day, collecting and trimming before each load lowered the run's peak RSS
by about 300 MB; it costs a few tens of milliseconds per load.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from collections.abc import Callable
from functools import cache

import pyarrow as pa


def release_free_memory() -> None:
    """Collect unreachable cycles, then return the free pages of Arrow's memory pool and of the
    C heap (glibc only) to the OS."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return getattr(libc, "malloc_trim", None)  # glibc has it; musl, for one, does not
