"""One small exception hierarchy for the whole package.

Every error a user can trigger with bad input derives from :class:`QcstarError`, and its
message says what was expected, what came, and how to fix it. The hierarchy lives in
``circuits`` (the bottom layer) so that every layer can raise and catch the same classes;
``qcstar`` re-exports them.
"""

from __future__ import annotations


class QcstarError(Exception):
    """Base class of every error raised on purpose by qcstar, circuits and encoders."""


class ShapeError(QcstarError, ValueError):
    """A tensor or array has the wrong shape, dtype or size."""


class StateError(QcstarError, ValueError):
    """A quantum state is not one: not finite (NaN/inf), zero, or not normalised within the
    documented tolerance (e.g. an initial state given to ``simulate``, or a state to sample)."""


class ConfigError(QcstarError, ValueError):
    """A configuration value is wrong: a constructor argument, an option, a CLI flag or a config key
    (unknown name, wrong type, out of range, NaN). Shape mistakes in tensors are :class:`ShapeError`."""


class ResourceError(QcstarError, MemoryError):
    """A call would need more memory (or another resource) than the documented, overridable cap.

    Raised before anything is allocated; the message names the size, the cap and how to raise it
    (:func:`qcstar.circuits.resources.set_memory_limit` or ``QCSTAR_MAX_MEMORY``).
    """


class GateError(QcstarError, ValueError):
    """An operation names an unknown gate, or has the wrong wires, parameters or matrix."""


class QasmError(QcstarError, ValueError):
    """An OpenQASM program could not be read or written.

    ``line`` and ``column`` are 1-based positions in the source text (``None`` when the
    error is not tied to a position, e.g. when writing).
    """

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        self.line = line
        self.column = column
        where = ""
        if line is not None:
            where = f"line {line}" + (f", column {column}" if column is not None else "") + ": "
        super().__init__(where + message)
        self.bare_message = message


class BackendError(QcstarError, RuntimeError):
    """A backend (simulator, sampler, cloud service) could not run or returned bad results."""


class DataError(QcstarError, ValueError):
    """A data file or data set is missing, corrupt, or does not match its checksum."""


class MissingDependencyError(QcstarError, ImportError):
    """An optional dependency is needed for this call; the message names the extra to install."""


def require(module: str, extra: str | None, purpose: str, *, pip: str | None = None):
    """Import a module lazily, or raise :class:`MissingDependencyError` saying how to install it.

    The install hint comes from :mod:`qcstar.circuits.optionals` when it knows the module (so it
    always names an extra that exists, or says the package is a core dependency); for other
    modules, ``extra`` names the qcstar extra (``pip install 'qcstar[extra]'``) or, when None,
    ``pip`` the requirement to install (default: the module's top-level name).
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        from .optionals import dependency_for, missing_message

        known = dependency_for(module)
        if known is not None:
            how = known.install_hint
        else:
            how = f"pip install 'qcstar[{extra}]'" if extra else f"pip install '{pip or module.split('.')[0]}'"
        raise MissingDependencyError(missing_message(module, purpose, how)) from exc
