"""Keep freed multi-megabyte tensors in the heap (glibc): fewer page faults per training step.

Why: PyTorch's CPU tensors come from ``malloc``. glibc serves a block above its mmap threshold
(128 KiB at start, raised only after a larger block is freed) with a fresh ``mmap`` and unmaps
it on ``free``, so every new state of a few megabytes is page-faulted in again, one 4 KiB page
at a time. Measured on the 2-core development VM for the issue-2 benchmark step (batch 256,
10 qubits, complex64): 6,600 minor page faults and 33 ms per step by default, 32 faults and
23.5 ms after :func:`tune_allocator`. Whether the default is slow also depends on what the
process did before (a large free raises the threshold), which makes timings wander.

This is process-wide, so it is never done on import: call it yourself, or let the ``qcstar``
command line do it (set ``QCSTAR_TUNE_ALLOCATOR=0`` to stop it). The cost: memory the process
frees is kept for reuse (up to ``trim_threshold`` bytes) instead of being returned to the OS.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

from .errors import ConfigError

# mallopt parameter numbers from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: glibc accepts an mmap threshold up to 32 MiB on 64-bit systems.
MAX_MMAP_THRESHOLD = 32 * 2**20


def tune_allocator(*, mmap_threshold: int = MAX_MMAP_THRESHOLD, trim_threshold: int = 2**30) -> bool:
    """Raise glibc's mmap and trim thresholds so that freed state tensors are reused, not unmapped.

    Returns True when applied, False where it does not apply (not Linux/glibc, or glibc refused
    the values). Safe to call more than once.
    """
    if not sys.platform.startswith("linux"):
        return False
    if not 0 < mmap_threshold <= MAX_MMAP_THRESHOLD or trim_threshold < mmap_threshold:
        raise ConfigError(
            f"tune_allocator needs 0 < mmap_threshold <= {MAX_MMAP_THRESHOLD} and trim_threshold >= mmap_threshold, "
            f"got mmap_threshold={mmap_threshold} and trim_threshold={trim_threshold}; pass values in that range"
        )
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, int(min(trim_threshold, 2**31 - 1))) == 1 and ok
    return ok


def tune_allocator_from_env() -> bool:
    """:func:`tune_allocator` unless the environment variable ``QCSTAR_TUNE_ALLOCATOR`` is ``0``."""
    if os.environ.get("QCSTAR_TUNE_ALLOCATOR", "1").strip() in ("0", "false", "no", "off"):
        return False
    return tune_allocator()
