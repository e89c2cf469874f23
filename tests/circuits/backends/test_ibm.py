"""IBM Quantum backend: the V2 sampler contract with a mocked service, and local testing mode."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("qiskit_ibm_runtime")

from qcstar.circuits import Circuit, ConfigError  # noqa: E402
from qcstar.circuits.backends import get_backend  # noqa: E402
from qcstar.circuits.backends.base import JobLostError  # noqa: E402
from qcstar.circuits.backends.ibm import IBMBackend  # noqa: E402



def _circuits(count: int = 4) -> list[Circuit]:
    return [Circuit(3).ry(0.5 * i + 0.2, 0).cx(0, 1).ry(0.3, 2).cx(1, 2) for i in range(count)]


def test_mocked_service_gets_isa_pubs_and_counts_match_exact(mock_service):
    backend = IBMBackend(backend_name="ibm_mock", service=mock_service,
                         sampler_factory=mock_service.sampler_factory, mode="job")
    assert backend.name == "ibm:generic_backend_5q"
    circuits = _circuits()
    shots = 4000
    r = backend.run(circuits, shots=shots, measure=[0, 2])
    (pubs,) = mock_service.pubs
    assert len(pubs) == len(circuits)  # one PUB per circuit, one job for all
    allowed = set(mock_service.backend("x").operation_names)
    for (isa,) in pubs:
        assert set(isa.count_ops()) <= allowed
    exact = get_backend("torch").run(circuits, measure=[0, 2])
    for i in range(len(circuits)):
        p, f = exact.probabilities(i), r.probabilities(i)
        assert np.all(np.abs(f - p) <= 5 * np.sqrt(np.maximum(p * (1 - p), 1e-12) / shots) + 1e-12)
    assert {m["job_id"] for m in r.metadata} == set(mock_service.submitted)
    assert r.metadata[0]["seed_transpiler"] == 7


def test_collect_in_a_new_process_fetches_the_job_from_the_service(mock_service):
    first = IBMBackend(backend_name="ibm_mock", service=mock_service,
                       sampler_factory=mock_service.sampler_factory, mode="job")
    job_id = first.submit(_circuits(2), shots=100)
    again = IBMBackend(backend_name="ibm_mock", service=mock_service,
                       sampler_factory=mock_service.sampler_factory, mode="job")
    r = again.collect(job_id, _circuits(2), shots=100)
    assert [sum(c.values()) for c in r.counts] == [100, 100]
    with pytest.raises(JobLostError, match="nope"):
        again.collect("nope", _circuits(2), shots=100)


def test_limits_and_options_are_checked(mock_service):
    backend = IBMBackend(backend_name="ibm_mock", service=mock_service,
                         sampler_factory=mock_service.sampler_factory, mode="job", max_executions=1000)
    with pytest.raises(ConfigError, match="run_chunked"):
        backend.submit(_circuits(3), shots=500)
    with pytest.raises(ConfigError, match="shots"):
        backend.run(_circuits(1))  # a sampler has no exact states
    with pytest.raises(ConfigError, match="mode"):
        IBMBackend(backend_name="x", service=mock_service, mode="forever")
    with pytest.raises(ConfigError, match="exactly one"):
        IBMBackend(service=mock_service)
    assert mock_service.submitted == []
    assert "token" not in repr(backend.describe()).lower()


def test_local_testing_mode_on_a_fake_backend_in_a_batch():
    with get_backend("ibm-fake:FakeManilaV2", mode="batch") as backend:
        assert backend.local and backend.name == "ibm-fake:FakeManilaV2"
        bell = Circuit(2).h(0).cx(0, 1)
        a = backend.run([bell], shots=500, seed=4)
        b = backend.run([bell], shots=500, seed=4)
        assert backend._context is not None  # the Batch opened at the first submit
    assert backend._context is None
    assert a.counts == b.counts
    p = a.probabilities(0)
    assert p[0] + p[3] > 0.85 and abs(p[0] - 0.5) < 0.1  # noisy, but a Bell pair
    with pytest.raises(JobLostError, match="local testing mode"):
        IBMBackend(backend=backend.backend).collect("some-old-id", [bell], shots=500)


@pytest.mark.hardware
def test_real_hardware_bell_pair():
    name = os.environ.get("QCSTAR_IBM_BACKEND")
    if not name:
        pytest.skip("set QCSTAR_IBM_BACKEND (e.g. ibm_torino) and save an IBM Quantum account to run this")
    backend = get_backend(f"ibm:{name}", mode="job")
    r = backend.run([Circuit(2).h(0).cx(0, 1)], shots=1000)
    p = r.probabilities(0)
    assert p[0] + p[3] > 0.8

