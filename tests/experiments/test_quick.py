"""Every script in ``experiments/`` runs its ``--quick`` smoke mode.

The scripts are discovered (``experiments/*.py`` without a leading underscore), so a new
script is tested as soon as it exists and must support ``--quick``: tiny sizes, seconds, the
real code path, results in a temporary folder and never in ``experiments/results/``.

The scripts run in subprocesses (``sys.executable``), as many at once as there are cores,
each with its own ``$TMPDIR`` and working folder; every test waits for its own. On 2 cores the
whole module takes about half the scripts' summed CPU time (mostly imports): ~11 s when quiet.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"
RESULTS = EXPERIMENTS / "results"

#: Scripts that cannot run a --quick smoke mode, each with the reason. None today.
QUICK_EXEMPT: dict[str, str] = {}

SCRIPTS = sorted(p.stem for p in EXPERIMENTS.glob("*.py") if not p.name.startswith("_"))

#: Scripts whose --quick run takes over ~15 s of CPU (imports of Aer / IBM runtime, AQCE builds, net
#: training): run with the slow tests (``-m slow``), not in the default suite's time budget.
QUICK_SLOW: dict[str, str] = {
    "e2_kernels": "builds a digits AQCE set and trains a C*-net on the way (~15 s)",
    "e4_hardware": "imports Aer and the IBM runtime, calibrates readout mitigation (~20 s)",
    "e3_sequence": "trains three sequence models on tokens of a digits AQCE set (~19 s); the models, tokenizers "
                   "and training loop have their own tests in tests/qcstar/sequence",
}
DEFAULT_QUICK = [n for n in SCRIPTS if n not in QUICK_EXEMPT and n not in QUICK_SLOW]

#: Generous: a quick run takes seconds, but 8 jobs may share these 2 cores.
TIMEOUT_S = 180

LAST_LINE = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>\S+)$")


@dataclasses.dataclass(frozen=True)
class Expected:
    """What a quick run of one of the scripts below must leave: the key of its last line
    (``key=<finite float>``), the files it writes into its temporary folder, and ``check``,
    which gets ``{file name: parsed JSON}`` of the .json files and asserts their content."""

    last_line: str | None = None
    files: tuple[str, ...] = ()
    check: Callable[[dict[str, Any]], None] | None = None


def _aqce_quality_numbers(docs: dict[str, Any]) -> None:
    cell = docs["aqce_quality.json"]["results"]["digits/f80"]  # --quick: 2 digits at f80
    assert cell["n"] == 2 and 0.0 < cell["overlap_min"] <= cell["overlap_mean"] <= 1.0 + 1e-9, cell


def _bench_simulator_numbers(docs: dict[str, Any]) -> None:
    doc = docs["bench_simulator.json"]
    assert doc["size"] == {"n_qubits": 4, "n_layers": 2, "batch": 8, "n_features": 4}, doc["size"]
    assert doc["ours_ms_median"] > 0 and doc["pennylane_default_qubit_ms_median"] > 0


def _e1_numbers(docs: dict[str, Any]) -> None:
    rows = docs["e1_interaction.json"]["summary"]
    # --quick: digits, d in {1, 2} x interaction {none, global} (none only at d = 1) x 2 modes
    cells = sorted((r["mode"], r["d"], r["interaction"]) for r in rows)
    expect = sorted((mode, d, inter) for mode in ("shared", "tasks") for d in (1, 2) for inter in ("none", "global")
                    if d == 2 or inter == "none")
    assert cells == expect, cells
    assert {r["dataset"] for r in rows} == {"digits"} and all(0.0 <= r["mean"] <= 1.0 for r in rows)


#: Scripts not listed here (added by other parts) get the generic check of test_quick_run.
EXPECTED: dict[str, Expected] = {
    "aqce_quality": Expected(files=("aqce_quality.chunks.jsonl", "aqce_quality.json", "aqce_quality.md"),
                             check=_aqce_quality_numbers),
    "bench_aqce": Expected(last_line="ratio_vs_per_image_numpy"),
    "bench_qcstar": Expected(last_line="ratio_vs_pennylane_default", files=("bench_qcstar.md",)),
    "bench_simulator": Expected(last_line="ratio_vs_pennylane_default", files=("bench_simulator.json",),
                                check=_bench_simulator_numbers),
    "e1_interaction": Expected(
        files=("e1_interaction.jsonl", "e1_interaction.json", "e1_interaction.md", "e1_interaction.png"),
        check=_e1_numbers,
    ),
}


@dataclasses.dataclass
class QuickRun:
    """One script's --quick run: started by :class:`QuickRuns` when a slot is free."""

    name: str
    folder: Path  # its $TMPDIR and working folder
    process: subprocess.Popen | None = None
    started: float = 0.0
    timed_out: bool = False

    @property
    def log(self) -> Path:  # stdout and stderr together
        return self.folder / "output.log"

    def start(self) -> None:
        env = {**os.environ, "TMPDIR": str(self.folder), "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
        with open(self.log, "wb") as fh:  # a file, not a pipe: a full pipe would stall a run nobody reads yet
            self.process = subprocess.Popen(
                [sys.executable, str(EXPERIMENTS / f"{self.name}.py"), "--quick"],
                cwd=self.folder, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        self.started = time.monotonic()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class QuickRuns:
    """All scripts' --quick runs, ``slots`` at a time (more would only share the same cores
    and add up the memory of the imports), started in order as slots free up."""

    def __init__(self, names: list[str], root: Path, *, slots: int):
        self.runs = {name: QuickRun(name, root / name) for name in names}
        for run in self.runs.values():
            run.folder.mkdir()
        self.slots = slots
        self._fill()

    def _fill(self) -> None:
        waiting = [r for r in self.runs.values() if r.process is None]
        free = self.slots - sum(r.running() for r in self.runs.values())
        for run in waiting[:max(0, free)]:
            run.start()

    def _check_timeouts(self) -> None:
        for run in self.runs.values():
            if run.running() and time.monotonic() - run.started > TIMEOUT_S:
                run.process.kill()
                run.process.wait()
                run.timed_out = True

    def wait(self, name: str) -> tuple[int, str]:
        """Exit code and output of ``name``'s run; a run past TIMEOUT_S is killed and fails."""
        run = self.runs[name]
        while run.process is None or run.running():
            time.sleep(0.05)
            self._check_timeouts()
            self._fill()
        if run.timed_out:
            pytest.fail(f"{name} --quick ran past {TIMEOUT_S} s; a smoke run must take seconds:\n{run.output()[-3000:]}")
        return run.process.returncode, run.output()

    def close(self) -> None:
        for run in self.runs.values():  # a test that failed early leaves no orphan behind
            if run.running():
                run.process.kill()
                run.process.wait()


def _results_snapshot() -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(RESULTS)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(RESULTS.rglob("*"))
        if p.is_file()
    } if RESULTS.is_dir() else {}


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """Start the scripts' --quick runs, as many at once as there are cores (at least 2);
    yield the :class:`QuickRuns` and the snapshot of experiments/results/ taken before."""
    before = _results_snapshot()
    runs = QuickRuns(DEFAULT_QUICK, tmp_path_factory.mktemp("quick"),
                     slots=max(2, os.cpu_count() or 1))
    yield runs, before
    runs.close()


def _check_last_line(name: str, out: str, key: str | None) -> None:
    lines = out.strip().splitlines()
    match = LAST_LINE.match(lines[-1].strip()) if lines else None
    assert match, f"{name} --quick: last line should be key=<number>, got {lines[-1:]!r}"
    if key is not None:
        assert match["key"] == key, f"{name} --quick: last line should start with {key}=, got {lines[-1]!r}"
    value = float(match["value"])
    assert math.isfinite(value) and value > 0, f"{name} --quick: {match['key']} should be a positive ratio, got {value}"


def _check_file(path: Path) -> None:
    assert path.stat().st_size > 0, f"{path} is empty"
    if path.suffix == ".json":
        json.loads(path.read_text())
    elif path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        assert rows, f"{path} holds no JSON line"


@pytest.mark.parametrize("name", DEFAULT_QUICK)
def test_quick_run(quick_runs, name: str) -> None:
    _check_quick_run(quick_runs[0], name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(QUICK_SLOW))
def test_quick_run_slow(tmp_path, name: str) -> None:
    before = _results_snapshot()
    runs = QuickRuns([name], tmp_path, slots=1)
    try:
        _check_quick_run(runs, name)
    finally:
        runs.close()
    assert _results_snapshot() == before, f"{name} --quick changed experiments/results/"


def _check_quick_run(runs: QuickRuns, name: str) -> None:
    rc, out = runs.wait(name)
    run = runs.runs[name]
    if rc != 0 and "unrecognized arguments: --quick" in out:
        pytest.fail(f"experiments/{name}.py has no --quick smoke mode; every script in experiments/ needs one "
                    "(tiny sizes, seconds, results into a temporary folder; see experiments/_cli.py)")
    assert rc == 0, f"{name} --quick exited {rc}:\n{out[-3000:]}"
    written = sorted(p for p in run.folder.rglob("*") if p.is_file() and p != run.log)
    expected = EXPECTED.get(name)
    if expected is None:  # a script of another part: some visible result, wherever it goes
        lines = out.strip().splitlines()
        assert written or (lines and LAST_LINE.match(lines[-1].strip())), (
            f"{name} --quick printed no last line key=<number> and wrote nothing into its temporary folder"
        )
        for path in written:
            _check_file(path)
        return
    if expected.last_line:
        _check_last_line(name, out, expected.last_line)
    names = {p.name: p for p in written}
    for filename in expected.files:
        assert filename in names, f"{name} --quick did not write {filename} into $TMPDIR; wrote {sorted(names)}"
        _check_file(names[filename])
    if expected.check is not None:
        expected.check({f: json.loads(names[f].read_text()) for f in expected.files if f.endswith(".json")})


def test_quick_runs_leave_results_alone(quick_runs) -> None:
    runs, before = quick_runs
    for name in runs.runs:
        runs.wait(name)
    assert _results_snapshot() == before, "a --quick run changed experiments/results/"


def _load_cli_module():
    spec = importlib.util.spec_from_file_location("experiments_cli", EXPERIMENTS / "_cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_output_refuses_results_folder(tmp_path, monkeypatch, capsys) -> None:
    quick = _load_cli_module()
    parser = argparse.ArgumentParser(prog="bench")
    for inside in (RESULTS, RESULTS / "bench.md", RESULTS / "sub" / "prefix"):
        with pytest.raises(SystemExit) as exc:
            quick.quick_output(parser, inside, name="bench")
        assert exc.value.code == 2
        assert "never into" in capsys.readouterr().err
    assert quick.quick_output(parser, tmp_path / "x.md", name="bench") == (tmp_path / "x.md").resolve()
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # tempfile caches the folder it chose first
    made = quick.quick_output(parser, None, name="bench", filename="bench.json")
    assert made.name == "bench.json" and made.parent.parent == tmp_path and made.parent.name.startswith("bench-quick-")
    assert quick.quick_output(parser, None, name="bench") != made.parent  # a fresh folder every run


def test_comma_choices_names_what_is_allowed(capsys) -> None:
    cli = _load_cli_module()
    parser = argparse.ArgumentParser(prog="bench")
    assert cli.comma_choices(parser, "--levels", "f80, f90", {"f80", "f90", "f95"}) == ["f80", "f90"]
    for wrong in ("f80,f99", "", "f80,"):
        with pytest.raises(SystemExit) as exc:
            cli.comma_choices(parser, "--levels", wrong, {"f80", "f90", "f95"})
        assert exc.value.code == 2
        assert "expected a comma-separated list of f80, f90, f95" in capsys.readouterr().err


def test_positive_int_refuses_zero_negative_and_text() -> None:
    cli = _load_cli_module()
    assert cli.positive_int("3") == 3
    for wrong in ("0", "-2", "1.5", "ten"):
        with pytest.raises(argparse.ArgumentTypeError, match="whole number >= 1"):
            cli.positive_int(wrong)


def test_append_json_line_starts_fresh_after_a_torn_line(tmp_path) -> None:
    cli = _load_cli_module()
    log = tmp_path / "runs.jsonl"
    cli.append_json_line(log, {"a": 1})
    cli.append_json_line(log, {"a": 0})
    assert log.read_text() == '{"a": 1}\n{"a": 0}\n'
    with open(log, "ab") as fh:  # a kill in the middle of the next write
        fh.write(b'{"a": 2, "b"')
    cli.append_json_line(log, {"a": 3})
    rows = []
    for line in log.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    assert rows == [{"a": 1}, {"a": 0}, {"a": 3}]


def test_run_script_turns_our_errors_into_a_message(capsys, monkeypatch) -> None:
    from qcstar.circuits.errors import DataError

    cli = _load_cli_module()
    monkeypatch.setattr(sys, "argv", ["bench_x.py"])

    def missing_data() -> None:
        raise DataError("mnist: file t10k-images-idx3-ubyte.gz is missing; set QCSTAR_DATA")

    for main, status in ((missing_data, 1), (lambda: 3, 3), (lambda: 13.4, 0), (lambda: None, 0)):
        with pytest.raises(SystemExit) as exc:
            cli.run_script(main)
        assert exc.value.code == status
    assert capsys.readouterr().err == "bench_x.py: error: mnist: file t10k-images-idx3-ubyte.gz is missing; set QCSTAR_DATA\n"

    def bug() -> None:
        raise KeyError("a bug keeps its traceback")

    with pytest.raises(KeyError):
        cli.run_script(bug)
