"""Resource guards: refuse, before allocating, what cannot fit.

A state of n qubits is ``2**n`` complex numbers: 31 qubits in complex64 is 16 GiB, 40 qubits
8 TiB. Every entry point that allocates from user-given sizes (the simulator, sampling, the
C*-net, the encoders, the training command) asks :func:`check_memory` first, so a mistake costs
a clear :class:`~qcstar.circuits.errors.ResourceError` instead of minutes of swapping or the
OOM killer.

The cap (bytes) is, in order: the value given to :func:`set_memory_limit`; the environment
variable ``QCSTAR_MAX_MEMORY`` (bytes, or with a suffix ``K``, ``M``, ``G``, ``T``; ``0`` or
``none`` turns the guard off); otherwise 80 % of the machine's physical memory (total, not available, so the
cap does not change from call to call).
"""

from __future__ import annotations

import os
import re

from .errors import ConfigError, ResourceError

__all__ = ["check_memory", "memory_limit", "set_memory_limit", "state_bytes", "format_bytes"]

_LIMIT: int | None = None  # set by set_memory_limit; None means "use the environment / default"
_SUFFIX = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return None


def _parse(text: str) -> int | None:
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    if t in ("0", "NONE", "OFF", ""):
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)", t)
    if not m:
        raise ConfigError(
            f"QCSTAR_MAX_MEMORY={text!r} is not a size; expected bytes or a number with K, M, G or T "
            "(for example 8G), or 'none' to turn the guard off"
        )
    return int(float(m.group(1)) * _SUFFIX[m.group(2)])


def memory_limit() -> int | None:
    """The cap in bytes that :func:`check_memory` enforces, or ``None`` when the guard is off."""
    if _LIMIT is not None:
        return _LIMIT if _LIMIT > 0 else None
    env = os.environ.get("QCSTAR_MAX_MEMORY")
    if env is not None:
        return _parse(env)
    phys = _physical_memory()
    return int(phys * 0.8) if phys else None


def set_memory_limit(limit: int | str | None) -> None:
    """Set the cap for this process: bytes, a string such as ``"64G"``, or ``None`` / ``0`` to
    turn the guard off. ``set_memory_limit(...)`` overrides ``QCSTAR_MAX_MEMORY``."""
    global _LIMIT
    if limit is None:
        _LIMIT = 0
    elif isinstance(limit, str):
        parsed = _parse(limit)
        _LIMIT = parsed if parsed is not None else 0
    elif isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ConfigError(f"memory limit must be a non-negative int of bytes, a size string or None; got {limit!r}")
    else:
        _LIMIT = int(limit)


def reset_memory_limit() -> None:
    """Forget :func:`set_memory_limit`: the environment or the default applies again."""
    global _LIMIT
    _LIMIT = None


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def state_bytes(n_qubits: int, batch: int = 1, *, itemsize: int = 8) -> int:
    """Bytes of ``batch`` states of ``n_qubits`` qubits with ``itemsize`` bytes per amplitude
    (complex64: 8, complex128: 16). Exact Python integers: never overflows."""
    return int(batch) * (1 << int(n_qubits)) * int(itemsize)


def check_memory(nbytes: int, what: str, *, factor: float = 1.0) -> None:
    """Raise :class:`ResourceError` when ``nbytes * factor`` exceeds the cap.

    ``what`` says what would be allocated ("a batch of 4 states of 40 qubits"), ``factor`` the
    number of such buffers the call holds at once (a simulator step keeps a few).
    """
    limit = memory_limit()
    need = int(nbytes * factor)
    if limit is not None and need > limit:
        raise ResourceError(
            f"{what} needs about {format_bytes(need)}, more than the memory cap of {format_bytes(limit)}; "
            "use fewer qubits or a smaller batch, or raise the cap with "
            "qcstar.circuits.resources.set_memory_limit(...) or QCSTAR_MAX_MEMORY=... (e.g. 64G, or none)"
        )
