"""The wheel holds one import namespace, ``qcstar``, and nothing of the checkout around it.

The repository keeps three top-level folders that install as one package (pyproject's
``[tool.setuptools] package-dir``): ``qcstar/`` -> ``qcstar``, ``circuits/`` ->
``qcstar.circuits``, ``encoders/`` -> ``qcstar.encoders``. The packages are listed, not
found, so a new sub-package must be added to the list; ``test_every_package_is_listed`` says so.

The wheel is built from a copy of the checkout (with ``tests/``, ``experiments/`` and a demo
output folder beside the packages, as in a working tree) so the build leaves nothing behind:
in-process through ``setuptools.build_meta`` when setuptools >= 77 (the version pyproject asks
for) is importable, else by ``pip wheel`` with build isolation, which fetches that setuptools
from the package index; the test skips when neither is possible.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
#: import name -> folder in the checkout, e.g. "qcstar.circuits" -> "circuits"
PACKAGE_DIR: dict[str, str] = SETUPTOOLS["package-dir"]
TOP_FOLDERS = ("qcstar", "circuits", "encoders")
BUILD_TIMEOUT_S = 300


def _import_name(folder: Path) -> str:
    """The import name a folder of the checkout installs as, through the package-dir mapping."""
    rel = folder.relative_to(ROOT).as_posix()
    best = max((name for name, d in PACKAGE_DIR.items() if rel == d or rel.startswith(d + "/")),
               key=lambda name: len(PACKAGE_DIR[name]), default=None)
    assert best is not None, f"{rel}/ is not under any folder of [tool.setuptools] package-dir {PACKAGE_DIR}"
    rest = rel[len(PACKAGE_DIR[best]):].strip("/")
    return best + ("." + rest.replace("/", ".") if rest else "")


def _package_folders() -> dict[str, Path]:
    """{import name: folder} for every folder with an __init__.py under the three top folders."""
    return {
        _import_name(init.parent): init.parent
        for top in TOP_FOLDERS
        for init in sorted((ROOT / top).rglob("__init__.py"))
        if "__pycache__" not in init.parts
    }


def test_package_dir_maps_the_three_folders() -> None:
    assert PACKAGE_DIR == {"qcstar": "qcstar", "qcstar.circuits": "circuits", "qcstar.encoders": "encoders"}


def test_every_package_is_listed() -> None:
    found = set(_package_folders())
    listed = set(SETUPTOOLS["packages"])
    assert not found - listed, (
        f"folders with an __init__.py that pyproject.toml does not list: {sorted(found - listed)}; "
        "add them to [tool.setuptools] packages (they would be missing from the wheel)"
    )
    assert not listed - found, (
        f"pyproject.toml lists packages that have no folder with an __init__.py: {sorted(listed - found)}"
    )


def _expected_wheel_files() -> set[str]:
    """What the wheel must hold: every module and package-data file of every listed package."""
    patterns = [p for key, pats in SETUPTOOLS.get("package-data", {}).items() for p in pats]
    out = set()
    for name, folder in _package_folders().items():
        prefix = name.replace(".", "/")
        for path in folder.iterdir():
            if path.is_file() and (path.suffix == ".py" or any(fnmatch.fnmatch(path.name, p) for p in patterns)):
                out.add(f"{prefix}/{path.name}")
    return out


def _copy_checkout(dest: Path) -> Path:
    """The files a build reads, plus what lies beside them in a working tree."""
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", "results", ".pytest_cache")
    for folder in (*TOP_FOLDERS, "tests", "experiments"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for extra in ROOT.glob("LICEN[CS]E*"):
        shutil.copy2(extra, dest / extra.name)
    demo = dest / "qcstar-demo"  # what `qcstar demo` leaves in the folder it runs in
    demo.mkdir()
    (demo / "result.json").write_text("{}\n")
    (demo / "checkpoint.pt").write_bytes(b"not a checkpoint")
    return dest


def _setuptools_is_new_enough() -> bool:
    try:
        major = int(importlib.metadata.version("setuptools").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return False
    return major >= 77


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = _copy_checkout(tmp_path_factory.mktemp("checkout"))
    out = tmp_path_factory.mktemp("wheel")
    if _setuptools_is_new_enough():
        cmd = [sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_wheel({str(out)!r})"]
    else:
        cmd = [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--quiet", "-w", str(out)]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    proc = subprocess.run(cmd, cwd=src, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0 and "to install build dependencies did not run successfully" in log:
        pytest.skip("cannot build the wheel here: this Python has setuptools < 77 and pip could not fetch "
                    f"setuptools >= 77 from the package index:\n{log[-1500:]}")
    assert proc.returncode == 0, f"building the wheel failed:\n{log[-4000:]}"
    wheels = sorted(out.glob("qcstar-*.whl"))
    assert len(wheels) == 1, f"expected one qcstar wheel in {out}, found {[w.name for w in out.iterdir()]}"
    return wheels[0]


def test_wheel_holds_only_qcstar(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    version = PYPROJECT["project"]["version"]
    tops = {PurePosixPath(n).parts[0] for n in names}
    assert tops == {"qcstar", f"qcstar-{version}.dist-info"}, (
        f"the wheel must hold qcstar/ and its .dist-info only, got top-level entries {sorted(tops)}"
    )
    folders = {part for n in names for part in PurePosixPath(n).parts[:-1]}
    for outsider in ("tests", "experiments", "qcstar-demo", "results"):
        assert outsider not in folders, f"a {outsider}/ folder ended up in the wheel"
    modules = {n for n in names if not n.startswith(f"qcstar-{version}.dist-info/")}
    missing = _expected_wheel_files() - modules
    assert not missing, f"files of listed packages missing from the wheel: {sorted(missing)}"
    assert "qcstar/circuits/__init__.py" in modules and "qcstar/encoders/__init__.py" in modules
    assert not [n for n in modules if "__pycache__" in n or n.endswith(".pyc")]


def test_installed_wheel_imports_as_qcstar(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import qcstar, qcstar.circuits, qcstar.encoders, qcstar.circuits.statevector, qcstar.encoders.aqce\n"
        "from qcstar.circuits import Circuit, simulate\n"
        "assert abs(float(simulate(Circuit(1).h(0)).abs().pow(2)[0]) - 0.5) < 1e-6\n"
        "print(qcstar.__file__); print(qcstar.circuits.__file__); print(qcstar.encoders.__file__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = [Path(line) for line in proc.stdout.split()]
    expect = [site / "qcstar" / "__init__.py", site / "qcstar" / "circuits" / "__init__.py",
              site / "qcstar" / "encoders" / "__init__.py"]
    assert files == expect, f"imported {files}, expected the unpacked wheel's {expect}"
