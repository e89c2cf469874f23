"""The Braket backend: local simulators against our states, and a mocked cloud device's
submit / collect (also from a new process) through run_chunked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("braket.devices")

from braket.devices import LocalSimulator  # noqa: E402

from qcstar.circuits import Circuit, ConfigError, simulate  # noqa: E402
from qcstar.circuits.backends import get_backend  # noqa: E402
from qcstar.circuits.backends.base import JobLostError  # noqa: E402
from qcstar.circuits.backends.braket import BraketBackend  # noqa: E402
from qcstar.circuits.backends.jobs import run_chunked  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _circuits(count: int = 3) -> list[Circuit]:
    return [Circuit(3).ry(0.5 * i + 0.2, 0).cx(0, 1).h(2).cz(2, 0).rx(0.7, 1) for i in range(count)]


def test_local_state_vector_equals_our_simulator():
    r = get_backend("braket:local").run(_circuits())
    for state, c in zip(r.states, _circuits()):
        torch.testing.assert_close(state, simulate(c, dtype=torch.complex128))


@pytest.mark.slow
def test_local_density_matrix_matches_exact_probabilities():
    exact = get_backend("torch").run(_circuits(2), measure=[2, 0])
    dm = get_backend("braket:local:braket_dm").run(_circuits(2), measure=[2, 0])
    for i in range(2):
        np.testing.assert_allclose(dm.probabilities(i), exact.probabilities(i), atol=1e-10)


def test_local_shots_match_exact_probabilities():
    exact = get_backend("torch").run(_circuits(2), measure=[2, 0])
    shots = 3000
    sampled = BraketBackend(memory=True).run(_circuits(2), shots=shots, measure=[2, 0])
    for i in range(2):
        p, f = exact.probabilities(i), sampled.probabilities(i)
        assert np.all(np.abs(f - p) <= 5 * np.sqrt(np.maximum(p * (1 - p), 1e-12) / shots) + 1e-12)
        assert sampled.bit_array(i).shape == (shots, 2)
    assert get_backend("braket:local").run([Circuit(3).x(0)], shots=5, measure=[0, 1]).counts == [{"01": 5}]


class _Task:
    def __init__(self, task_id, result):
        self.id = task_id
        self._result = result

    def result(self):
        return self._result


class MockCloudDevice:
    """A cloud device that runs on the local simulator and keeps tasks by ARN, as AWS does."""

    arn = "arn:aws:braket:::device/quantum-simulator/amazon/mock"
    tasks: dict[str, _Task] = {}

    def __init__(self):
        self.batches = 0

    def run_batch(self, programs, *, shots, s3_destination_folder=None, max_parallel=None, tags=None):
        self.batches += 1
        self.tags = tags
        results = LocalSimulator("braket_sv").run_batch(programs, shots=shots, max_parallel=1).results()
        tasks = []
        for r in results:
            arn = f"arn:aws:braket:us-east-1:000:quantum-task/{r.task_metadata.id}"
            tasks.append(_Task(arn, r))
            MockCloudDevice.tasks[arn] = tasks[-1]

        class _Batch:
            pass

        batch = _Batch()
        batch.tasks = tasks
        return batch


def test_cloud_device_submits_and_collects_from_a_new_process(monkeypatch, tmp_path):
    import braket.aws

    monkeypatch.setattr(braket.aws, "AwsQuantumTask", lambda arn: MockCloudDevice.tasks[arn])
    device = MockCloudDevice()
    backend = BraketBackend(device=device, max_circuits=2)
    assert backend.supports_submit and not backend.exact
    with pytest.raises(ConfigError, match="shots"):
        backend.run(_circuits(1))
    path = tmp_path / "braket.json"
    first = run_chunked(backend, _circuits(), shots=200, manifest=path)
    assert device.batches == 2 and first.metadata[0]["job_id"].startswith("braket-tasks:")
    assert device.tags["qcstar"].startswith("qcstar-") and device.tags["qcstar"].endswith("-chunk1")
    # a new process: a fresh backend object collects by task ARN
    job_id = first.metadata[0]["job_id"]
    again = BraketBackend(device=MockCloudDevice()).collect(job_id, _circuits(2), shots=200)
    assert again.counts == first.counts[:2]
    with pytest.raises(JobLostError, match="not a Braket job id"):
        again_backend = BraketBackend(device=MockCloudDevice())
        again_backend.collect("ibm-123", _circuits(1), shots=200)


def test_bad_device_specs_are_config_errors():
    with pytest.raises(ConfigError, match="device ARN"):
        get_backend("braket:ionq")
    with pytest.raises(ConfigError, match="local Braket simulator"):
        get_backend("braket:local:qpu")
    with pytest.raises(ConfigError, match="needs an argument"):
        get_backend("braket")


@pytest.mark.hardware
def test_real_braket_device_bell_pair():
    import os

    arn = os.environ.get("QCSTAR_BRAKET_DEVICE")
    if not arn:
        pytest.skip("set QCSTAR_BRAKET_DEVICE to a device ARN (and AWS credentials) to run this")
    r = get_backend(f"braket:{arn}").run([Circuit(2).h(0).cx(0, 1)], shots=1000)
    p = r.probabilities(0)
    assert p[0] + p[3] > 0.8


class MockProgramSetDevice(MockCloudDevice):
    """A cloud device offering program sets of at most 2 programs and 1000 shots in total."""

    def __init__(self):
        super().__init__()
        from types import SimpleNamespace

        limits = SimpleNamespace(maximumExecutables=2, maximumTotalShots=1000)
        self.properties = SimpleNamespace(action={"braket.ir.openqasm.program_set": limits})
        self.sets: list[int] = []

    def run(self, program_set, *, shots, s3_destination_folder=None, tags=None):
        assert shots == program_set.total_shots
        self.sets.append(program_set.total_executables)
        result = LocalSimulator("braket_sv").run(program_set, shots=shots).result()
        arn = f"arn:aws:braket:us-east-1:000:quantum-task/set-{len(MockCloudDevice.tasks)}"
        MockCloudDevice.tasks[arn] = _Task(arn, result)
        return MockCloudDevice.tasks[arn]


def test_program_sets_hold_several_circuits_per_task_within_the_limits(monkeypatch):
    import braket.aws

    monkeypatch.setattr(braket.aws, "AwsQuantumTask", lambda arn: MockCloudDevice.tasks[arn])
    device = MockProgramSetDevice()
    backend = BraketBackend(device=device)
    circuits = _circuits(5)
    shots = 400  # 1000 total shots allow 2 programs of 400 per set
    job_id = backend.submit(circuits, shots=shots, measure=[2, 0])
    assert device.sets == [2, 2, 1] and device.batches == 0
    result = BraketBackend(device=MockProgramSetDevice()).collect(job_id, circuits, shots=shots, measure=[2, 0])
    exact = get_backend("torch").run(circuits, measure=[2, 0])
    for i in range(5):
        p, f = exact.probabilities(i), result.probabilities(i)
        assert np.all(np.abs(f - p) <= 5 * np.sqrt(np.maximum(p * (1 - p), 1e-12) / shots) + 1e-12)
    with pytest.raises(ConfigError, match="program sets"):
        BraketBackend(device=device, program_sets=True).run(circuits, shots=2000)
    BraketBackend(device=device).run(circuits[:1], shots=2000)  # over the set limit: run_batch instead
    assert device.batches == 1
