"""A mocked IBM Quantum service and sampler (the V2 contract), shared by the IBM and jobs tests.

The "service" keeps jobs by id across backend instances (as IBM does across processes), the
sampler runs PUBs on ``qiskit.primitives.StatevectorSampler`` (exact shots, seeded) and counts
submissions; ``fail_after`` makes the k+1-th submission raise, as a killed run would stop.
"""

from __future__ import annotations

import pytest

FAKE_TOKEN = "planted-fake-token-6d1f0c"


class Killed(RuntimeError):
    """Stands for the process dying between submissions."""


class MockService:
    def __init__(self, *, token: str = FAKE_TOKEN, fail_after: int | None = None, seed: int = 11):
        from qiskit.providers.fake_provider import GenericBackendV2

        self._account = {"token": token, "channel": "ibm_quantum_platform"}
        self.jobs: dict[str, object] = {}
        self.submitted: list[str] = []
        self.pubs: list[list] = []
        self.fail_after = fail_after
        self.seed = seed
        self._backend = GenericBackendV2(num_qubits=5, seed=1)

    def backend(self, name: str):
        return self._backend

    def job(self, job_id: str):
        if job_id not in self.jobs:
            raise KeyError(f"no job {job_id}")
        return self.jobs[job_id]

    def sampler_factory(self, mode, options):
        service = self

        class _Sampler:
            def run(self, pubs, *, shots=None):
                from qiskit.primitives import StatevectorSampler

                if service.fail_after is not None and len(service.submitted) >= service.fail_after:
                    raise Killed("killed between submissions")
                pubs = list(pubs)
                job = StatevectorSampler(seed=service.seed).run(pubs, shots=shots)
                service.jobs[job.job_id()] = job
                service.submitted.append(job.job_id())
                service.pubs.append(pubs)
                return job

        return _Sampler()


@pytest.fixture
def mock_service(monkeypatch):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", FAKE_TOKEN)
    return MockService()
