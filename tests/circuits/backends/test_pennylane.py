"""The PennyLane backend: device states equal ours; per-tape shots in one qml.execute, seeded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qcstar.circuits import Circuit, ConfigError, simulate
from qcstar.circuits.backends import get_backend
from qcstar.circuits.backends.pennylane import PennyLaneBackend

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

MEASURE = [[2, 0]] * 3 + [[0]]


def _circuits() -> list[Circuit]:
    return [Circuit(3).ry(0.4 * i + 0.1, 0).cx(0, 1).h(2).cz(2, 0).rx(0.7, 1) for i in range(3)] + [Circuit(2).h(0)]


@pytest.mark.parametrize("device", ["default.qubit", "lightning.qubit"])
def test_device_states_and_probabilities_equal_ours(device):
    pytest.importorskip("pennylane_lightning" if device.startswith("lightning") else "pennylane")
    r = get_backend(f"pennylane:{device}").run(_circuits(), measure=MEASURE)
    ours = get_backend("torch").run(_circuits(), measure=MEASURE)
    for i, c in enumerate(_circuits()):
        torch.testing.assert_close(r.states[i], simulate(c, dtype=torch.complex128))
        np.testing.assert_allclose(r.probabilities(i), ours.probabilities(i), atol=1e-7)


def test_one_execute_call_with_per_tape_shots(monkeypatch):
    import pennylane as qml

    calls = []
    real = qml.execute

    def spy(tapes, device, **kw):
        calls.append([t.shots.total_shots for t in tapes])
        return real(tapes, device, **kw)

    monkeypatch.setattr(qml, "execute", spy)
    backend = PennyLaneBackend(device="default.qubit")
    a = backend.run(_circuits()[:3], shots=2000, seed=3, measure=[2, 0])
    assert calls == [[2000, 2000, 2000]]
    b = backend.run(_circuits()[:3], shots=2000, seed=3, measure=[2, 0])
    assert a.counts == b.counts and a.metadata[0]["seeded"]
    exact = get_backend("torch").run(_circuits()[:3], measure=[2, 0])
    for i in range(3):
        p, f = exact.probabilities(i), a.probabilities(i)
        assert np.all(np.abs(f - p) <= 5 * np.sqrt(np.maximum(p * (1 - p), 1e-12) / 2000) + 1e-12)


def test_counts_and_memory_follow_our_bit_order():
    c = [Circuit(3).x(0)]
    assert get_backend("pennylane:default.qubit").run(c, shots=5, measure=[0, 1]).counts == [{"01": 5}]
    r = PennyLaneBackend(memory=True).run(c, shots=5, measure=[0, 1])
    assert r.counts == [{"01": 5}] and r.bit_array(0).tolist() == [[1, 0]] * 5


def test_mixed_device_gives_exact_distributions_only():
    r = get_backend("pennylane:default.mixed").run(_circuits(), measure=MEASURE)
    ours = get_backend("torch").run(_circuits(), measure=MEASURE)
    assert r.states is None
    for i in range(4):
        np.testing.assert_allclose(r.probabilities(i), ours.probabilities(i), atol=1e-7)


@pytest.mark.slow
def test_braket_local_device_through_pennylane():
    pytest.importorskip("braket.pennylane_plugin")
    r = get_backend("pennylane:braket.local.qubit").run(_circuits(), shots=1000, seed=1, measure=MEASURE)
    ours = get_backend("torch").run(_circuits(), measure=MEASURE)
    assert not r.metadata[0]["seeded"]
    for i in range(4):
        p, f = ours.probabilities(i), r.probabilities(i)
        assert np.all(np.abs(f - p) <= 5 * np.sqrt(np.maximum(p * (1 - p), 1e-12) / 1000) + 1e-12)


def test_bad_device_and_device_shots_are_config_errors():
    with pytest.raises(ConfigError, match="deprecated"):
        PennyLaneBackend(device_options={"shots": 10})
    with pytest.raises(ConfigError, match="could not create"):
        get_backend("pennylane:no.such.device").run(_circuits()[:1])
