"""Resumable chunked runs: manifests, resume without double submission, dry runs, budgets, secrets."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from qcstar.circuits import Circuit, ConfigError, ResourceError
from qcstar.circuits.backends import TorchBackend
from qcstar.circuits.backends.jobs import MANIFEST_FORMAT, Budget, Plan, plan_chunks, run_chunked

from .conftest import FAKE_TOKEN, Killed, MockService


def _circuits(count: int = 7) -> list[Circuit]:
    return [Circuit(2).ry(0.35 * i + 0.1, 0).cx(0, 1).rx(0.2 * i, 1) for i in range(count)]


class CountingTorch(TorchBackend):
    """The torch backend, counting the circuits it runs."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.ran: list[int] = []

    def _run(self, circuits, **kw):
        self.ran.append(len(circuits))
        return super()._run(circuits, **kw)


def test_chunks_respect_size_circuit_and_execution_limits():
    class Limited(TorchBackend):
        max_circuits = 4
        max_executions = 1000

    assert plan_chunks(TorchBackend(), 7, 100) == [(0, 7)]
    assert plan_chunks(TorchBackend(), 7, 100, chunk_size=3) == [(0, 3), (3, 6), (6, 7)]
    assert plan_chunks(Limited(), 10, None) == [(0, 4), (4, 8), (8, 10)]
    assert plan_chunks(Limited(), 10, 300) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    with pytest.raises(ConfigError, match="lower shots"):
        plan_chunks(Limited(), 10, 5000)


def test_sync_run_resumes_from_the_manifest_without_rerunning(tmp_path):
    path = tmp_path / "run.json"
    backend = CountingTorch()
    first = run_chunked(backend, _circuits(), shots=200, seed=3, chunk_size=3, manifest=path, keys=[[i] for i in range(7)])
    assert backend.ran == [3, 3, 1]
    document = json.loads(path.read_text())
    assert document["format"] == MANIFEST_FORMAT
    assert [c["circuits"] for c in document["chunks"]] == [[0, 3], [3, 6], [6, 7]]
    assert document["chunks"][2]["keys"] == [[6]] and document["versions"]["torch"]
    again = CountingTorch()
    second = run_chunked(again, _circuits(), shots=200, seed=3, chunk_size=3, manifest=path, keys=[[i] for i in range(7)])
    assert again.ran == [] and second.counts == first.counts
    # a half-finished manifest runs only the missing chunk
    document["chunks"][1]["status"] = "pending"
    path.write_text(json.dumps(document))
    third = CountingTorch()
    assert run_chunked(third, _circuits(), shots=200, seed=3, chunk_size=3, manifest=path,
                       keys=[[i] for i in range(7)]).counts == first.counts
    assert third.ran == [3]


def test_exact_runs_store_states_and_the_seed_is_recorded_when_not_given(tmp_path):
    path = tmp_path / "exact.json"
    a = run_chunked(TorchBackend(), _circuits(3), chunk_size=2, manifest=path)
    b = run_chunked(CountingTorch(), _circuits(3), chunk_size=2, manifest=path)
    for x, y in zip(a.states, b.states):
        assert (x == y).all()
    sampled = tmp_path / "sampled.json"
    c = run_chunked(TorchBackend(), _circuits(3), shots=50, manifest=sampled)
    d = run_chunked(TorchBackend(), _circuits(3), shots=50, manifest=sampled)  # reuses the recorded seed
    assert c.counts == d.counts and isinstance(json.loads(sampled.read_text())["inputs"]["seed"], int)


def test_a_manifest_for_other_inputs_is_refused(tmp_path):
    path = tmp_path / "run.json"
    run_chunked(TorchBackend(), _circuits(), shots=100, seed=1, manifest=path)
    with pytest.raises(ConfigError, match="shots"):
        run_chunked(TorchBackend(), _circuits(), shots=101, seed=1, manifest=path)
    with pytest.raises(ConfigError, match="circuits_digest"):
        run_chunked(TorchBackend(), _circuits()[::-1], shots=100, seed=1, manifest=path)
    with pytest.raises(ConfigError, match="seed"):
        run_chunked(TorchBackend(), _circuits(), shots=100, seed=2, manifest=path)
    with pytest.raises(ConfigError, match="measure"):
        run_chunked(TorchBackend(), _circuits(), shots=100, seed=1, manifest=path, measure=[0])
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not readable"):
        run_chunked(TorchBackend(), _circuits(), shots=100, seed=1, manifest=path)


def test_dry_run_plans_and_submits_nothing(tmp_path, mock_service):
    from qcstar.circuits.backends.ibm import IBMBackend

    backend = IBMBackend(backend_name="m", service=mock_service, sampler_factory=mock_service.sampler_factory,
                         mode="job", max_executions=1000)
    plan = run_chunked(backend, _circuits(), shots=250, dry_run=True, manifest=tmp_path / "m.json")
    assert isinstance(plan, Plan)
    assert plan.chunks == [(0, 4), (4, 7)] and plan.executions == 7 * 250 and len(plan.to_submit) == 2
    assert plan.estimated_seconds == pytest.approx(7 * 250 * 2.5e-4)
    assert "2 job(s)" in str(plan) and "1750 executions" in str(plan)
    assert mock_service.submitted == [] and not list(tmp_path.iterdir())


def test_budget_stops_before_submitting(tmp_path, mock_service):
    from qcstar.circuits.backends.ibm import IBMBackend

    backend = IBMBackend(backend_name="m", service=mock_service, sampler_factory=mock_service.sampler_factory, mode="job")
    with pytest.raises(ResourceError, match="over the budget of 1000"):
        run_chunked(backend, _circuits(), shots=250, budget=1000, manifest=tmp_path / "m.json")
    with pytest.raises(ResourceError, match="device time"):
        run_chunked(backend, _circuits(), shots=250, budget=Budget(seconds=0.1))
    with pytest.raises(ConfigError, match="no device-time estimate"):
        run_chunked(TorchBackend(), _circuits(), shots=10, budget=Budget(seconds=5.0))
    with pytest.raises(ConfigError, match="Budget"):
        Budget(executions=0)
    assert mock_service.submitted == [] and not list(tmp_path.iterdir())
    assert run_chunked(TorchBackend(), _circuits(), shots=10, budget=70).shots == 10  # exactly on budget runs


def _ibm(service):
    from qcstar.circuits.backends.ibm import IBMBackend

    return IBMBackend(backend_name="ibm_mock", service=service, sampler_factory=service.sampler_factory,
                      mode="job", max_circuits=2, options={"environment": {"job_tags": ["qcstar"]}, "api_token": FAKE_TOKEN})


def test_killed_between_submissions_resumes_without_submitting_twice(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("QISKIT_IBM_TOKEN", FAKE_TOKEN)
    circuits = _circuits()
    uninterrupted_service = MockService()
    reference = run_chunked(_ibm(uninterrupted_service), circuits, shots=300, manifest=tmp_path / "ref.json")
    assert len(uninterrupted_service.submitted) == 4  # 7 circuits, 2 per job

    service = MockService(fail_after=2)  # the provider keeps jobs; the process dies at the 3rd submit
    path = tmp_path / "run.json"
    with pytest.raises(Killed):
        run_chunked(_ibm(service), circuits, shots=300, manifest=path)
    recorded = [c["job_id"] for c in json.loads(path.read_text())["chunks"]]
    assert recorded[:2] == service.submitted and recorded[2:] == [None, None]

    service.fail_after = None
    resumed = run_chunked(_ibm(service), circuits, shots=300, manifest=path)  # a new process: new backend object
    assert len(service.submitted) == len(set(service.submitted)) == 4  # nothing submitted twice
    assert resumed.counts == reference.counts
    assert [m["job_id"] for m in resumed.metadata[::2]] == service.submitted

    # the planted token is in no artifact and no log line
    for artifact in tmp_path.rglob("*"):
        if artifact.is_file():
            assert FAKE_TOKEN.encode() not in artifact.read_bytes(), artifact
    assert FAKE_TOKEN not in caplog.text
    assert "<redacted>" in path.read_text()


def test_lost_local_jobs_are_submitted_again(tmp_path):
    service = MockService()
    path = tmp_path / "run.json"
    first = run_chunked(_ibm(service), _circuits(3), shots=100, manifest=path)
    document = json.loads(path.read_text())
    for chunk in document["chunks"]:
        chunk["status"] = "submitted"  # as if killed after submitting, before collecting
    path.write_text(json.dumps(document))
    for sidecar in Path(str(path) + ".chunks").iterdir():
        sidecar.unlink()
    service.jobs.clear()  # the provider no longer knows the jobs (local testing mode)
    again = run_chunked(_ibm(service), _circuits(3), shots=100, manifest=path)
    assert again.counts == first.counts
    history = json.loads(path.read_text())["chunks"][0]["history"]
    assert [h["event"] for h in history] == ["submitted", "lost", "submitted"]
