"""The torch backend: exact states equal simulate(); shots are seeded, independent and unbiased."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qcstar.circuits import Circuit, ConfigError, simulate
from qcstar.circuits.backends.torch import TorchBackend, stack_circuits, structure_key


def _circuits(count: int = 6, n: int = 3) -> list[Circuit]:
    gen = torch.Generator().manual_seed(0)
    out = []
    for _ in range(count):
        a = torch.rand(n, generator=gen, dtype=torch.float64) * 3
        c = Circuit(n)
        for q in range(n):
            c.ry(float(a[q]), q)
        c.cx(0, 1).rz(float(a[0]), 2).cx(1, 2)
        out.append(c)
    return out


def test_exact_states_equal_simulate_also_for_mixed_structures_and_batches():
    circuits = _circuits(5) + [Circuit(2).h(0).cx(0, 1), Circuit(2).ry(torch.tensor([0.1, 0.7]), 1)]
    r = TorchBackend().run(circuits)
    assert len(r) == 8 and r.counts is None
    for i, c in enumerate(circuits[:6]):
        torch.testing.assert_close(r.states[i], simulate(c, dtype=torch.complex128))
    batch = simulate(circuits[6], dtype=torch.complex128)
    torch.testing.assert_close(r.states[6], batch[0])
    torch.testing.assert_close(r.states[7], batch[1])


def test_stacking_builds_one_batch_with_the_same_states():
    circuits = _circuits(4)
    assert len({structure_key(c) for c in circuits}) == 1
    stacked = stack_circuits(circuits)
    assert stacked.batch_size == 4
    psi = simulate(stacked, dtype=torch.complex128)
    for i, c in enumerate(circuits):
        torch.testing.assert_close(psi[i], simulate(c, dtype=torch.complex128))
    # identical circuits still form a batch
    same = stack_circuits([Circuit(1).h(0), Circuit(1).h(0)])
    assert simulate(same).shape == (2, 2)


def test_shots_are_reproducible_by_seed_and_independent_of_grouping():
    circuits = _circuits(6)
    a = TorchBackend().run(circuits, shots=500, seed=11)
    b = TorchBackend(group_size=1).run(circuits, shots=500, seed=11)
    c = TorchBackend().run(circuits, shots=500, seed=12)
    assert a.counts == b.counts
    assert a.counts != c.counts
    assert all(sum(k.values()) == 500 for k in a.counts)
    # identical circuits draw independent shots
    twins = TorchBackend().run([Circuit(1).h(0)] * 2, shots=200, seed=3)
    assert twins.counts[0] != twins.counts[1]


def test_shot_frequencies_lie_within_five_standard_errors_of_exact():
    circuits = _circuits(6)
    shots = 4000
    backend = TorchBackend()
    exact = backend.run(circuits, measure=[2, 0])
    sampled = backend.run(circuits, shots=shots, seed=5, measure=[2, 0])
    for i in range(len(circuits)):
        p = exact.probabilities(i)
        f = sampled.probabilities(i)
        sigma = np.sqrt(np.maximum(p * (1 - p), 1e-12) / shots)
        assert np.all(np.abs(f - p) <= 5 * sigma + 1e-12)


def test_memory_keeps_shot_order_and_matches_counts():
    r = TorchBackend(memory=True).run([Circuit(2).x(1)], shots=20, seed=0)
    bits = r.bit_array(0)
    assert bits.shape == (20, 2)
    assert (bits[:, 0] == 0).all() and (bits[:, 1] == 1).all()
    assert r.counts[0] == {"10": 20}  # qubit 1 = 1 is the LEFT character


def test_bad_options_raise_config_error():
    with pytest.raises(ConfigError, match="dtype"):
        TorchBackend(dtype=torch.float32)
    with pytest.raises(ConfigError, match="group_size"):
        TorchBackend(group_size=0)
    with pytest.raises(ConfigError, match="shots"):
        TorchBackend().run([Circuit(1)], shots=0)
    with pytest.raises(ConfigError, match="seed"):
        TorchBackend().run([Circuit(1)], shots=1, seed=-1)
