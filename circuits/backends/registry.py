"""``get_backend("spec")``: one string names a backend (README, "Backends").

A spec is ``family`` or ``family:argument``; each family imports its provider package only when
asked, and a missing package raises :class:`~qcstar.circuits.errors.MissingDependencyError`
naming the qcstar extra that installs it.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import ConfigError
from .base import Backend

__all__ = ["get_backend", "backend_specs"]


def _torch(argument: str | None, options: dict[str, Any]) -> Backend:
    if argument:
        raise ConfigError(f"the torch backend takes no ':argument', got 'torch:{argument}'; use 'torch'")
    from .torch import TorchBackend

    return TorchBackend(**options)


#: family -> (example specs, loader(argument or None, options) -> Backend)
_FAMILIES: dict[str, tuple[tuple[str, ...], Callable[[str | None, dict[str, Any]], Backend]]] = {
    "torch": (("torch",), _torch),
}


def _register(family: str, examples: tuple[str, ...], loader: Callable[[str | None, dict[str, Any]], Backend]) -> None:
    _FAMILIES[family] = (examples, loader)


def backend_specs() -> list[str]:
    """Example specs of every known backend family."""
    return [spec for examples, _ in _FAMILIES.values() for spec in examples]


def get_backend(spec: str = "torch", **options: Any) -> Backend:
    """The backend named by ``spec``, built with ``options`` (keyword arguments of its class).

    Example::

        get_backend("torch")
        get_backend("torch", dtype=torch.complex64)
    """
    if isinstance(spec, Backend):
        if options:
            raise ConfigError("options are given to get_backend with a spec string, not with a Backend instance")
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"a backend spec is a string such as 'torch', got {spec!r}; known: {', '.join(backend_specs())}")
    family, _, argument = spec.strip().partition(":")
    family = family.lower()
    if family not in _FAMILIES:
        raise ConfigError(f"unknown backend '{spec}'; expected one of: {', '.join(backend_specs())}")
    return _FAMILIES[family][1](argument or None, options)
