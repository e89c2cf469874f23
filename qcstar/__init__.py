"""qcstar: quantum circuit C*-algebra nets and the learning around them.

Public names are imported lazily so that ``import qcstar`` stays cheap and works on machines
without the optional extras (for example a GPU box with torch only).
"""

from __future__ import annotations

import importlib
from typing import Any

from qcstar.circuits.errors import (  # re-exported: one hierarchy for the whole package
    BackendError,
    ConfigError,
    DataError,
    GateError,
    MissingDependencyError,
    QasmError,
    QcstarError,
    ResourceError,
    ShapeError,
    StateError,
)


def _package_version() -> str:
    """The installed distribution's version: pyproject.toml is the one place it is written."""
    from importlib import metadata

    try:
        return metadata.version("qcstar")
    except metadata.PackageNotFoundError:  # imported from a checkout that was never installed
        return "0+unknown"


__version__ = _package_version()

_LAZY = {
    "QCStarNet": "qcstar.net",
    "algebra": "qcstar.algebra",
    "net": "qcstar.net",
    "train": "qcstar.train",
    "data": "qcstar.data",
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'qcstar' has no attribute '{name}'")
    module = importlib.import_module(target)
    return module if target.endswith("." + name) else getattr(module, name)


__all__ = [
    "BackendError", "ConfigError", "ResourceError", "DataError", "GateError", "MissingDependencyError", "QasmError", "QcstarError",
    "ShapeError", "StateError", "__version__", *_LAZY,
]
