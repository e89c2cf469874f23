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
    def __init__(
        self, *, token: str = FAKE_TOKEN, fail_after: int | None = None, seed: int = 11, die_after_accept: bool = False
    ):
        from qiskit.providers.fake_provider import GenericBackendV2

        self._account = {"token": token, "channel": "ibm_quantum_platform"}
        self.jobs_store: dict[str, object] = {}
        self.submitted: list[str] = []
        self.pubs: list[list] = []
        self.fail_after = fail_after
        self.die_after_accept = die_after_accept
        self.tags: dict[str, list[str]] = {}
        self.searches = 0
        self.seed = seed
        self._backend = GenericBackendV2(num_qubits=5, seed=1)

    def backend(self, name: str):
        return self._backend

    def least_busy(self, *, operational: bool, simulator: bool):
        assert operational and not simulator
        return self._backend

    def job(self, job_id: str):
        if job_id not in self.jobs_store:
            raise KeyError(f"no job {job_id}")
        return self.jobs_store[job_id]

    def jobs(self, *, job_tags=None, backend_name=None, limit=10):
        self.searches += 1
        found = [self.jobs_store[j] for j in reversed(self.submitted) if set(job_tags or []) <= set(self.tags[j])]
        return found[:limit]

    def sampler_factory(self, mode, options):
        service = self
        tags = list(options.get("environment", {}).get("job_tags", []))

        class _Sampler:
            def run(self, pubs, *, shots=None):
                from qiskit.primitives import StatevectorSampler

                if service.fail_after is not None and len(service.submitted) >= service.fail_after:
                    raise Killed("killed between submissions")
                pubs = list(pubs)
                job = StatevectorSampler(seed=service.seed).run(pubs, shots=shots)
                service.jobs_store[job.job_id()] = job
                service.tags[job.job_id()] = tags
                service.submitted.append(job.job_id())
                service.pubs.append(pubs)
                if service.die_after_accept:
                    service.die_after_accept = False
                    raise Killed("the connection dropped after the job was accepted")
                return job

        return _Sampler()


@pytest.fixture
def mock_service(monkeypatch):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", FAKE_TOKEN)
    return MockService()
