"""tests/ mirrors the tree: every module has a test module at the mirrored path.

``circuits/X.py`` -> ``tests/circuits/test_X.py``, ``encoders/X.py`` -> ``tests/encoders/test_X.py``,
``qcstar/X.py`` -> ``tests/qcstar/test_X.py``, ``qcstar/data/X.py`` -> ``tests/qcstar/data/test_X.py``
(sub-packages likewise, e.g. ``circuits/qasm/lexer.py`` -> ``tests/circuits/qasm/test_lexer.py``).
Package ``__init__.py`` files are exempt: they re-export what their modules define. A module of a
sub-package that is tested through the package's public API may instead be covered by package-level
test modules ``tests/circuits/test_qasm_*.py`` / ``tests/circuits/test_statevector.py``
(``circuits/qasm/lexer.py`` is then covered by ``tests/circuits/test_qasm_parser.py``).

A module without such a test module must be listed in ``WITHOUT_OWN_TESTS`` with the reason,
and the list must be exact: an entry whose module is gone or has gained its test module fails
too, so the list only ever shrinks to what genuinely has no own test module.

"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
SOURCE_FOLDERS = ("circuits", "encoders", "qcstar")

#: module path (relative to the repository) -> why it has no test module at the mirrored path
WITHOUT_OWN_TESTS: dict[str, str] = {
    "qcstar/commands/train.py": "the train command is tested end to end through qcstar.cli in "
                                "tests/qcstar/test_cli.py, tests/qcstar/test_train.py and tests/reliability/test_train.py",
    "qcstar/data/circuitsets.py": "a re-export of qcstar.data.build / read / layout for old import paths; "
                                  "tests/qcstar/data/test_catalogue.py checks the old import paths",
}


def mirrored_test(module: PurePosixPath) -> PurePosixPath:
    """The test module that mirrors ``module`` (a path relative to the repository)."""
    return PurePosixPath("tests", *module.parts[:-1], f"test_{module.stem}.py")


def covered(module: PurePosixPath) -> bool:
    """Whether ``module`` has its mirrored test module, or (in a sub-package) a package-level one."""
    if (ROOT / mirrored_test(module)).is_file():
        return True
    if len(module.parts) >= 3 and module.parts[0] in SOURCE_FOLDERS:
        package = module.parts[-2]
        folder = ROOT / "tests" / PurePosixPath(*module.parts[:-2])
        return any(folder.glob(f"test_{package}.py")) or any(folder.glob(f"test_{package}_*.py"))
    return False


def source_modules() -> list[PurePosixPath]:
    return sorted(
        PurePosixPath(path.relative_to(ROOT).as_posix())
        for folder in SOURCE_FOLDERS
        for path in (ROOT / folder).rglob("*.py")
        if path.name != "__init__.py" and "__pycache__" not in path.parts
    )


def test_mirrored_path() -> None:
    assert mirrored_test(PurePosixPath("circuits/gates.py")) == PurePosixPath("tests/circuits/test_gates.py")
    assert mirrored_test(PurePosixPath("qcstar/data/images.py")) == PurePosixPath("tests/qcstar/data/test_images.py")
    assert mirrored_test(PurePosixPath("circuits/qasm/lexer.py")) == PurePosixPath("tests/circuits/qasm/test_lexer.py")


def test_every_module_has_a_mirrored_test_module() -> None:
    modules = source_modules()
    assert len(modules) > 10, f"found only {modules} under {SOURCE_FOLDERS}: is ROOT right?"
    missing = [
        f"{module} -> {mirrored_test(module)}"
        for module in modules
        if not covered(module) and str(module) not in WITHOUT_OWN_TESTS
    ]
    assert not missing, (
        "modules without a test module at the mirrored path (write one, move their tests there, or list the "
        "module in WITHOUT_OWN_TESTS with the reason):\n  " + "\n  ".join(missing)
    )


def test_allow_list_is_exact() -> None:
    modules = {str(m) for m in source_modules()}
    stale = [
        f"{path}: " + ("no such module" if path not in modules else "its test module exists")
        for path in WITHOUT_OWN_TESTS
        if path not in modules or covered(PurePosixPath(path))
    ]
    assert not stale, "stale entries in WITHOUT_OWN_TESTS, delete them:\n  " + "\n  ".join(stale)
