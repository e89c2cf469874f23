"""circuits.errors: one hierarchy, positions in QASM errors, and install hints."""

from __future__ import annotations

import pytest

import qcstar
from qcstar.circuits import errors


@pytest.mark.parametrize("name", [
    "ShapeError", "StateError", "ConfigError", "ResourceError", "GateError", "QasmError", "BackendError",
    "DataError", "MissingDependencyError",
])
def test_every_error_is_a_qcstar_error_and_re_exported(name):
    cls = getattr(errors, name)
    assert issubclass(cls, errors.QcstarError)
    assert getattr(qcstar, name) is cls


def test_builtin_bases_let_callers_catch_them_the_usual_way():
    assert issubclass(errors.ConfigError, ValueError) and issubclass(errors.ShapeError, ValueError)
    assert issubclass(errors.ResourceError, MemoryError)
    assert issubclass(errors.MissingDependencyError, ImportError)


def test_qasm_error_names_line_and_column():
    e = errors.QasmError("bad token", line=3, column=7)
    assert str(e) == "line 3, column 7: bad token" and e.bare_message == "bad token"
    assert str(errors.QasmError("no position")) == "no position"


def test_require_imports_or_names_how_to_install():
    assert errors.require("json", None, "a test") is __import__("json")
    with pytest.raises(errors.MissingDependencyError, match="pip install"):
        errors.require("qcstar_no_such_module_xyz", None, "a test")
