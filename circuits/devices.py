"""Device arguments: one check, so ``device="cuda:0"`` on a CPU-only torch or a misspelt device
is a :class:`~qcstar.circuits.errors.ConfigError` naming the devices that exist, not a raw torch
error deep inside a computation."""

from __future__ import annotations

from functools import lru_cache

import torch

from .errors import ConfigError

__all__ = ["available_devices", "resolve_device"]


def available_devices() -> list[str]:
    """The devices this torch can use: ``cpu``, then ``cuda:i`` and ``mps`` where present."""
    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


@lru_cache(maxsize=64)
def _resolve(spec: str) -> torch.device:
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(
            f"unknown device {spec!r}; this machine has {available_devices()} (pass one of them, or None for the default)"
        ) from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(
                f"device {spec!r} needs CUDA, but this torch has no CUDA device (torch.cuda.is_available() is False); "
                f"use one of {available_devices()}"
            )
        if device.index is not None and device.index >= count:
            raise ConfigError(f"device {spec!r} does not exist: this machine has {available_devices()}")
        return device
    if device.type == "mps" and "mps" in available_devices():
        return device
    raise ConfigError(f"device {spec!r} is not available here; this machine has {available_devices()}")


def resolve_device(device: torch.device | str | None) -> torch.device | None:
    """``device`` as a ``torch.device`` that exists on this machine (``None`` stays ``None``: the
    default), or :class:`ConfigError` saying which devices exist."""
    if device is None:
        return None
    if isinstance(device, torch.device):
        return _resolve(str(device))
    if isinstance(device, str):
        return _resolve(device)
    raise ConfigError(f"a device is a string such as 'cpu' or 'cuda:0', or a torch.device; got {device!r}")
