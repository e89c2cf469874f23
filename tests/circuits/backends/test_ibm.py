"""IBM Quantum backend: the V2 sampler contract with a mocked service, and local testing mode."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

pytest.importorskip("qiskit_ibm_runtime")

from qcstar.circuits import Circuit, ConfigError  # noqa: E402
from qcstar.circuits.backends import get_backend  # noqa: E402
from qcstar.circuits.backends.base import JobLostError  # noqa: E402
from qcstar.circuits.backends.ibm import IBMBackend  # noqa: E402



def _circuits(count: int = 4) -> list[Circuit]:
    return [Circuit(3).ry(0.5 * i + 0.2, 0).cx(0, 1).ry(0.3, 2).cx(1, 2) for i in range(count)]


def _mock_backend(service, **kw):
    return IBMBackend(backend_name="ibm_mock", service=service, sampler_factory=service.sampler_factory, mode="job", **kw)


def test_mocked_service_gets_one_template_pub_and_counts_match_exact(mock_service):
    backend = _mock_backend(mock_service)
    assert backend.name == "ibm:generic_backend_5q"
    circuits = _circuits() + [Circuit(3).h(1).cx(1, 2)]  # four of one structure, one other
    shots = 4000
    r = backend.run(circuits, shots=shots, measure=[0, 2])
    (pubs,) = mock_service.pubs  # one job
    assert len(pubs) == 2
    template, values = pubs[0]
    assert values.shape == (4, 1) and values[:, 0] == pytest.approx([0.2, 0.7, 1.2, 1.7], abs=1e-12)
    assert len(pubs[1]) == 1  # an explicit circuit
    allowed = set(mock_service.backend("x").operation_names)
    for pub in pubs:
        assert set(pub[0].count_ops()) <= allowed  # ISA circuits only
    exact = get_backend("torch").run(circuits, measure=[0, 2])
    for i in range(len(circuits)):
        p, f = exact.probabilities(i), r.probabilities(i)
        assert np.all(np.abs(f - p) <= 5 * np.sqrt(np.maximum(p * (1 - p), 1e-12) / shots) + 1e-12)
    assert [m["pub"] for m in r.metadata] == [0, 0, 0, 0, 1] and r.metadata[0]["template"]
    assert {m["job_id"] for m in r.metadata} == set(mock_service.submitted)
    assert r.metadata[0]["seed_transpiler"] == 7
    assert all(len(m["physical_qubits"]) == 2 and set(m["physical_qubits"]) <= set(range(5)) for m in r.metadata)


def test_templates_off_sends_one_pub_per_circuit_and_batched_circuits_are_one_pub(mock_service):
    _mock_backend(mock_service, templates=False).run(_circuits(), shots=10)
    assert len(mock_service.pubs[-1]) == 4
    batched = Circuit(3).ry(torch.tensor([0.1, 0.5, 0.9]), 0).cx(0, 1).crz(torch.tensor([0.3, 0.2, 0.1]), 1, 2)
    r = _mock_backend(mock_service).run([batched], shots=10)
    assert len(mock_service.pubs[-1]) == 1 and mock_service.pubs[-1][0][1].shape == (3, 2) and len(r) == 3
    # a batched matrix cannot be a template parameter: one PUB per sample
    unitaries = torch.stack([torch.eye(2, dtype=torch.complex128), torch.tensor([[0, 1], [1, 0]], dtype=torch.complex128)])
    r = _mock_backend(mock_service).run([Circuit(1).unitary(unitaries, 0)], shots=10)
    assert len(mock_service.pubs[-1]) == 2 and r.counts == [{"0": 10}, {"1": 10}]


def test_collect_in_a_new_process_fetches_the_job_from_the_service(mock_service):
    circuits = _circuits(3) + [Circuit(3).x(2)]
    first = _mock_backend(mock_service)
    job_id = first.submit(circuits, shots=100)
    direct = first.collect(job_id, circuits, shots=100)
    again = _mock_backend(mock_service)  # knows nothing of the job: fetches it, rebuilds the PUB layout
    r = again.collect(job_id, circuits, shots=100)
    assert r.counts == direct.counts and r.counts[3] == {"100": 100}
    assert [m["pub"] for m in r.metadata] == [m["pub"] for m in direct.metadata]
    with pytest.raises(JobLostError, match="nope"):
        again.collect("nope", _circuits(2), shots=100)


def test_least_busy_asks_the_service(mock_service):
    backend = IBMBackend(backend_name="least_busy", service=mock_service, sampler_factory=mock_service.sampler_factory)
    assert backend.backend is mock_service.backend("any")


def test_limits_and_options_are_checked(mock_service):
    backend = _mock_backend(mock_service, max_executions=1000)
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



@pytest.mark.parametrize("mode, kind", [("job", "GenericBackendV2"), ("batch", "Batch"), ("session", "Session")])
def test_modes_hand_the_sampler_a_backend_batch_or_session(mock_service, mode, kind):
    modes = []

    def factory(mode_object, options):
        modes.append(mode_object)
        return mock_service.sampler_factory(mode_object, options)

    with IBMBackend(backend_name="m", service=mock_service, sampler_factory=factory, mode=mode) as backend:
        backend.run(_circuits(1), shots=10)
        backend.run(_circuits(1), shots=10)
    assert [type(m).__name__ for m in modes] == [kind, kind]
    assert modes[0] is modes[1]  # one Batch / Session for the backend's jobs


@pytest.mark.slow
def test_fake_torino_local_testing_mode_matches_the_exact_noisy_kernel_entry():
    # a compute-uncompute kernel entry U(y)^dagger U(x)|0>: P(00) = |<psi(y)|psi(x)>|^2 without noise
    entry = Circuit(2).ry(0.4, 0).cx(0, 1).cx(0, 1).ry(-1.1, 0)
    shots = 4000
    sampled = get_backend("ibm-fake:FakeTorino", mode="job").run([entry], shots=shots, seed=1)
    # the same device noise (gates and readout), exactly, from Aer's density matrix
    noisy = get_backend("aer:fake_torino:density").run([entry]).probability_of_zero(0)
    ideal = get_backend("torch").run([entry]).probability_of_zero(0)
    assert abs(noisy - ideal) > 0.05  # FakeTorino's qubit 0 misreads ~17 % of the time
    assert abs(sampled.probability_of_zero(0) - noisy) <= 5 * (noisy * (1 - noisy) / shots) ** 0.5


def test_billed_usage_is_read_from_job_metrics_when_there():
    from qcstar.circuits.backends.ibm import _usage_seconds

    class Billed:
        def metrics(self):
            return {"usage": {"quantum_seconds": 3, "seconds": 4}}

    assert _usage_seconds(Billed()) == 3.0
    assert _usage_seconds(object()) is None
