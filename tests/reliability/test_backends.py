"""Reliability of qcstar.circuits.backends at its edges: memory caps, crashes mid-run, damaged
result files and wrong arguments are clear errors or recovered from, never silent."""

from __future__ import annotations

import json

import pytest
import torch

from qcstar.circuits import BackendError, Circuit, ConfigError, ResourceError
from qcstar.circuits.backends import TorchBackend, run_chunked
from qcstar.circuits.resources import memory_limit, set_memory_limit


@pytest.fixture
def small_memory_cap():
    before = memory_limit()
    set_memory_limit(64 << 20)
    yield
    set_memory_limit(before)


def _circuits(count: int = 5, n: int = 2) -> list[Circuit]:
    return [Circuit(n).ry(0.3 * i + 0.1, 0).cx(0, 1) for i in range(count)]


def test_states_over_the_memory_cap_are_refused_before_allocating(small_memory_cap):
    wide = [Circuit(24).ry(0.1 * i, 0) for i in range(2)]
    with pytest.raises(ResourceError, match="QCSTAR_MAX_MEMORY|set_memory_limit"):
        TorchBackend().run(wide)
    with pytest.raises(ResourceError):
        TorchBackend().run(_circuits(1), shots=50_000_000)


class CrashingTorch(TorchBackend):
    """Dies on its ``crash_at``-th call, as a killed process or a lost connection would."""

    def __init__(self, crash_at: int):
        super().__init__()
        self.calls = 0
        self.crash_at = crash_at

    def _run(self, circuits, **kw):
        self.calls += 1
        if self.calls == self.crash_at:
            raise BackendError("connection lost")
        return super()._run(circuits, **kw)


def test_a_crash_mid_run_leaves_a_valid_manifest_and_the_rerun_finishes(tmp_path):
    path = tmp_path / "run.json"
    with pytest.raises(BackendError, match="connection lost"):
        run_chunked(CrashingTorch(crash_at=2), _circuits(), shots=64, seed=0, chunk_size=2, manifest=path)
    document = json.loads(path.read_text())  # complete JSON, not a torn write
    assert [c["status"] for c in document["chunks"]] == ["done", "pending", "pending"]
    assert not [p.name for p in tmp_path.rglob("*.tmp")]
    resumed = CrashingTorch(crash_at=0)
    result = run_chunked(resumed, _circuits(), shots=64, seed=0, chunk_size=2, manifest=path)
    assert resumed.calls == 2
    assert result.counts == run_chunked(TorchBackend(), _circuits(), shots=64, seed=0, chunk_size=2).counts


def test_a_damaged_result_file_is_recomputed_not_trusted(tmp_path):
    path = tmp_path / "run.json"
    first = run_chunked(TorchBackend(), _circuits(), shots=64, seed=0, chunk_size=2, manifest=path)
    damaged = path.with_name(path.name + ".chunks") / "chunk-00001.npz"
    damaged.write_bytes(damaged.read_bytes()[:40])
    again = CrashingTorch(crash_at=0)
    second = run_chunked(again, _circuits(), shots=64, seed=0, chunk_size=2, manifest=path)
    assert again.calls == 1 and second.counts == first.counts
    events = [h["event"] for h in json.loads(path.read_text())["chunks"][1]["history"]]
    assert "result file unreadable" in events


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"shots": 1.5}, "shots"),
        ({"shots": True}, "shots"),
        ({"seed": 2.0, "shots": 5}, "seed"),
        ({"measure": [7]}, "distinct wires"),
        ({"measure": "01"}, "measure"),
    ],
)
def test_wrong_run_arguments_are_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TorchBackend().run(_circuits(2), **kwargs)


def test_wrong_chunked_arguments_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="one label per circuit"):
        run_chunked(TorchBackend(), _circuits(3), keys=[1, 2])
    with pytest.raises(ConfigError, match="JSON"):
        run_chunked(TorchBackend(), _circuits(1), keys=[object()])
    with pytest.raises(ConfigError, match="chunk_size"):
        run_chunked(TorchBackend(), _circuits(1), chunk_size=0)
    with pytest.raises(ConfigError, match="Backend"):
        run_chunked("torch", _circuits(1))
    with pytest.raises(ConfigError, match="budget"):
        run_chunked(TorchBackend(), _circuits(1), budget="lots")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ConfigError, match="not a qcstar-job-manifest"):
        run_chunked(TorchBackend(), _circuits(1), manifest=tmp_path / "other.json")


def test_collecting_with_other_measured_wires_is_a_backend_error():
    pytest.importorskip("qiskit_ibm_runtime")
    from qcstar.circuits.backends.ibm import IBMBackend
    from tests.circuits.backends.conftest import MockService

    mock_service = MockService()
    backend = IBMBackend(backend_name="m", service=mock_service, sampler_factory=mock_service.sampler_factory, mode="job")
    job_id = backend.submit(_circuits(2, n=3), shots=10, measure=[0, 1, 2])
    with pytest.raises(BackendError, match="measure="):
        backend.collect(job_id, _circuits(2, n=3), shots=10, measure=[0])
    with pytest.raises(BackendError, match="submitted with"):
        backend.collect(job_id, _circuits(1, n=3), shots=10, measure=[0, 1, 2])


def test_results_refuse_indices_out_of_range():
    r = TorchBackend().run(_circuits(2))
    with pytest.raises(ConfigError, match="0..1"):
        r.probabilities(2)
    assert torch.allclose(torch.as_tensor(r.probabilities(-1)), torch.as_tensor(r.probabilities(1)))


@pytest.mark.parametrize(
    "spec, module",
    [("aer", "qiskit_aer"), ("aer:density", "qiskit_aer"), ("braket:local", "braket.devices"),
     ("pennylane:default.qubit", "pennylane"), ("pennylane:default.mixed", "pennylane")],
)
def test_other_simulators_are_refused_over_the_memory_cap_before_they_allocate(small_memory_cap, spec, module):
    pytest.importorskip(module)
    from qcstar.circuits.backends import get_backend

    wide = 26 if "density" not in spec and "mixed" not in spec else 13  # 1 GiB states / 1 GiB density matrices
    with pytest.raises(ResourceError, match=f"{wide}-qubit"):
        get_backend(spec).run([Circuit(wide).h(0)])
