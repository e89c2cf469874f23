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


def _aer(argument: str | None, options: dict[str, Any]) -> Backend:
    from .aer import AerBackend

    settings: dict[str, Any] = {}
    for part in (argument or "").split(":"):
        if not part:
            continue
        if part.lower() in ("statevector", "density", "density_matrix"):
            settings["method"] = part.lower()
        else:
            settings["noise_backend"] = part
    clash = sorted(set(settings) & set(options))
    if clash:
        raise ConfigError(f"'aer:{argument}' already sets {clash}; give them in the spec or as options, not both")
    return AerBackend(**settings, **options)


_register("aer", ("aer", "aer:density", "aer:fake_torino", "aer:fake_manila_v2:density"), _aer)


def _needs_argument(family: str, argument: str | None, example: str) -> str:
    if not argument:
        raise ConfigError(f"the '{family}' backend needs an argument, e.g. '{example}'")
    return argument


def _ibm(argument: str | None, options: dict[str, Any]) -> Backend:
    from .ibm import IBMBackend

    return IBMBackend(backend_name=_needs_argument("ibm", argument, "ibm:ibm_torino"), **options)


def _ibm_fake(argument: str | None, options: dict[str, Any]) -> Backend:
    from .ibm import ibm_fake_backend

    return ibm_fake_backend(_needs_argument("ibm-fake", argument, "ibm-fake:FakeManilaV2"), **options)


_register("ibm", ("ibm:<backend name>",), _ibm)
_register("ibm-fake", ("ibm-fake:FakeManilaV2", "ibm-fake:FakeTorino"), _ibm_fake)
