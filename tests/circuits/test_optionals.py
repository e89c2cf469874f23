"""Optional dependencies: every install hint names something pyproject.toml defines."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import pytest

from qcstar.circuits import MissingDependencyError, optionals
from qcstar.circuits.errors import require
from qcstar.circuits.optionals import DEPENDENCIES, HAS_PENNYLANE, HAS_QISKIT, LazyDependency

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
CORE = PYPROJECT["project"]["dependencies"]
EXTRAS = PYPROJECT["project"]["optional-dependencies"]

EVERY = sorted(
    {id(d): d for d in [*DEPENDENCIES.values(), *(getattr(optionals, n) for n in optionals.__all__ if n.startswith("HAS_"))]}.values(),
    key=lambda d: d.module,
)


@pytest.mark.parametrize("dep", EVERY, ids=lambda d: d.module)
def test_hint_names_an_extra_or_core_requirement_of_pyproject(dep: LazyDependency):
    if dep.extra is None:
        assert dep.requirement in CORE, f"{dep.requirement} is not a core dependency in pyproject.toml"
    else:
        assert dep.extra in EXTRAS, f"extra '{dep.extra}' is not defined in pyproject.toml"
        assert dep.requirement in EXTRAS[dep.extra]
    hint = dep.install_hint
    named = re.findall(r"qcstar\[(\w+)\]", hint)
    assert all(extra in EXTRAS for extra in named)


def _fail_import(monkeypatch, blocked: str):
    real = importlib.import_module

    def fake(name, *args, **kwargs):
        if name.split(".")[0] == blocked:
            raise ImportError(f"No module named '{blocked}'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", fake)


@pytest.mark.parametrize(
    "module, extra",
    [("pennylane", "pennylane"), ("qiskit", "qiskit"), ("qiskit.synthesis", "qiskit"), ("ray", "ray")],
)
def test_require_hints_come_from_optionals(monkeypatch, module, extra):
    # the calls as the package makes them: some still pass extras that do not exist
    _fail_import(monkeypatch, module.split(".")[0])
    with pytest.raises(MissingDependencyError) as info:
        require(module, extra, "this feature")
    message = str(info.value)
    assert "this feature needs the package" in message
    for named in re.findall(r"qcstar\[(\w+)\]", message):
        assert named in EXTRAS
    assert "qcstar[pennylane]" not in message and "qcstar[qiskit]" not in message


def test_unknown_modules_keep_the_callers_hint(monkeypatch):
    _fail_import(monkeypatch, "notapackage")
    with pytest.raises(MissingDependencyError, match=r"pip install 'notapackage>=1'"):
        require("notapackage", None, "x", pip="notapackage>=1")


def test_core_dependencies_are_available_and_lazy():
    dep = LazyDependency(module="json", requirement="json", extra=None)
    assert dep._available is None  # nothing imported at construction
    assert bool(dep) and dep._available is True
    assert bool(HAS_QISKIT) and bool(HAS_PENNYLANE)
    assert not LazyDependency(module="qcstar_no_such_module", requirement="x", extra="ray")


def test_missing_dependency_require_says_how_to_install():
    dep = LazyDependency(module="qcstar_no_such_module", requirement="x>=1", extra="ray")
    with pytest.raises(MissingDependencyError, match=r"pip install 'qcstar\[ray\]'"):
        dep.require("testing")
