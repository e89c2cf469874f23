"""Issue 9 for qcstar.circuits: resource guards (§1), validated inputs (§2) and clean errors (§4).

Every case here failed before the fix: it allocated gigabytes, simulated a wrong state silently,
or raised a raw torch/Python exception.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from qcstar.circuits import (
    Circuit,
    ConfigError,
    GateError,
    Op,
    ResourceError,
    ShapeError,
    StateError,
    expectation,
    expval,
    probabilities,
    sample,
    simulate,
    unitary_matrix,
)
from qcstar.circuits import resources
from qcstar.circuits.ir import MAX_QUBITS
from qcstar.circuits.statevector import permutation

C64, C128 = torch.complex64, torch.complex128
BIG = 1 << 22  # elements; anything larger inside a refused call means the guard came too late


@pytest.fixture
def small_cap():
    """A 1 MiB memory cap for the test, restored afterwards."""
    resources.set_memory_limit(1 << 20)
    yield 1 << 20
    resources.reset_memory_limit()


@pytest.fixture
def no_big_allocation(monkeypatch):
    """Fail the test if a state-sized buffer (> 4M entries) is allocated: the guard must refuse first."""

    def guard(real, count_of):
        def wrapped(*args, **kwargs):
            if count_of(args) > BIG:
                raise AssertionError(f"allocation of {count_of(args)} entries attempted before the guard refused")
            return real(*args, **kwargs)

        return wrapped

    def size_of_shape(args):
        dims = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)) else args
        return math.prod(int(d) for d in dims) if all(isinstance(d, (int, np.integer)) for d in dims) else 0

    for name in ("zeros", "empty", "ones"):
        monkeypatch.setattr(torch, name, guard(getattr(torch, name), size_of_shape))
    monkeypatch.setattr(torch, "eye", guard(torch.eye, lambda a: int(a[0]) ** 2))
    monkeypatch.setattr(torch, "arange", guard(torch.arange, lambda a: int(a[0]) if len(a) == 1 else 0))
    monkeypatch.setattr(np, "arange", guard(np.arange, lambda a: int(a[0]) if len(a) == 1 else 0))


def _refused_fast(call, match: str = "memory cap"):
    start = time.perf_counter()
    with pytest.raises(ResourceError, match=match):
        call()
    assert time.perf_counter() - start < 2.0


# -- §1: bounded resources ---------------------------------------------------------------------

@pytest.mark.parametrize("n", [31, 40])
def test_simulate_refuses_what_cannot_fit(n, no_big_allocation):
    resources.set_memory_limit("8G")
    try:
        _refused_fast(lambda: simulate(Circuit(n).h(0)))
        _refused_fast(lambda: simulate(Circuit(n).h(0).cx(0, 1), dtype=C128))
    finally:
        resources.reset_memory_limit()


def test_default_cap_refuses_40_qubits(no_big_allocation):
    # 8 TiB of amplitudes: larger than any machine's default cap (80 % of physical memory)
    _refused_fast(lambda: simulate(Circuit(40).h(0)))


def test_expval_refuses_before_planning(small_cap, no_big_allocation):
    _refused_fast(lambda: expval(Circuit(30).h(0).cx(0, 29), {29: "Z"}))


def test_batch_counts_in_the_estimate(small_cap):
    simulate(Circuit(10).h(0))  # 8 KiB per state fits
    _refused_fast(lambda: simulate(Circuit(10).ry(torch.rand(200), 0)))


def test_sample_refuses_a_trillion_shots(no_big_allocation):
    psi = simulate(Circuit(2).h(0))
    _refused_fast(lambda: sample(psi, 10**12), match="shots")


def test_probabilities_and_expectation_are_guarded(small_cap):
    resources.set_memory_limit(1 << 12)
    psi = torch.zeros(1 << 10, dtype=C64)
    psi[0] = 1
    _refused_fast(lambda: probabilities(psi))
    _refused_fast(lambda: expectation(psi, {0: "X"}))


def test_unitary_matrix_and_permutation_are_guarded(small_cap, no_big_allocation):
    _refused_fast(lambda: unitary_matrix(Circuit(12).h(0)))
    _refused_fast(lambda: permutation([Op("cx", (0, 39))], 40))


def test_circuit_size_is_bounded_but_large_circuits_are_data():
    assert Circuit(100).h(99).n_qubits == 100  # a circuit is data: QASM files name many qubits
    with pytest.raises(ShapeError, match="at most"):
        Circuit(MAX_QUBITS + 1)
    assert Circuit(np.int64(3)).n_qubits == 3


# -- §2: no silent wrong results ---------------------------------------------------------------

@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_tensor_angles_are_refused(bad):
    with pytest.raises(GateError, match="NaN or infinite"):
        Circuit(1).rx(torch.tensor([0.1, bad]), 0)
    with pytest.raises(GateError, match="NaN or infinite"):
        Circuit(2).mux("ry", torch.tensor([0.1, bad]), 0, [1])
    with pytest.raises(GateError, match="finite"):
        Circuit(1).rz(bad, 0)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_global_phase_is_refused(bad):
    with pytest.raises(GateError):
        Circuit(1, global_phase=bad)
    with pytest.raises(GateError, match="NaN or infinite"):
        Circuit(1, global_phase=torch.tensor([0.0, bad]))


@pytest.mark.parametrize(
    "matrix",
    [
        2.5 * torch.eye(2, dtype=C128),  # would simulate to norm 2.5
        torch.zeros(2, 2, dtype=C128),
        torch.tensor([[math.nan, 0], [0, 1]], dtype=C128),
        torch.tensor([[math.inf, 0], [0, 1]], dtype=C128),
        torch.tensor([[1, 1], [0, 1]], dtype=C128),
    ],
    ids=["norm-2.5", "zero", "nan", "inf", "shear"],
)
def test_non_unitary_matrices_are_refused(matrix):
    with pytest.raises(GateError, match="unitary|NaN or infinite"):
        Circuit(1).unitary(matrix, 0)
    with pytest.raises(GateError, match="unitary|NaN or infinite"):
        Circuit(2).mux("unitary", torch.stack([torch.eye(2, dtype=C128), matrix]), 0, [1])


def test_unitarity_tolerance_depends_on_precision():
    theta = 0.3
    u = torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]], dtype=C128)
    off = u * (1 + 1e-5)  # unitarity error 2e-5
    Circuit(1).unitary(off.to(C64), 0)  # complex64: tolerance 1e-4
    with pytest.raises(GateError, match="tolerance 1e-06"):
        Circuit(1).unitary(off, 0)  # complex128: tolerance 1e-6
    Circuit(1).unitary(u * (1 + 1e-8), 0)
    with pytest.raises(GateError, match="numeric matrix"):
        Circuit(1).unitary(np.array([[None, 1], [1, 0]], dtype=object), 0)


@pytest.mark.parametrize(
    "state, match",
    [
        (torch.tensor([1.0, 1.0], dtype=C128), "normalised"),
        (torch.zeros(2, dtype=C128), "normalised"),
        (torch.tensor([math.nan, 0], dtype=C128), "NaN or infinite"),
        (torch.tensor([math.inf, 0], dtype=C128), "NaN or infinite"),
        (torch.tensor([[1, 0], [0.6, 0.6]], dtype=C128), "squared norm 0.72"),
    ],
)
def test_bad_initial_states_are_refused(state, match):
    with pytest.raises(StateError, match=match):
        simulate(Circuit(1).h(0), state)


def test_initial_state_tolerance_is_documented():
    nearly = torch.tensor([1 + 1e-6, 0], dtype=C128)
    simulate(Circuit(1).h(0), nearly.to(C64), dtype=C64)  # within 1e-4 for complex64
    with pytest.raises(StateError, match="within 1e-06"):
        simulate(Circuit(1).h(0), torch.tensor([1 + 1e-5, 0], dtype=C128), dtype=C128)
    # the linear map on any finite vector stays available on request
    out = simulate(Circuit(1).x(0), torch.tensor([2.0, 0], dtype=C128), dtype=C128, check_norm=False)
    torch.testing.assert_close(out, torch.tensor([0, 2.0], dtype=C128))


@pytest.mark.parametrize("wire", [1.5, True, "0", None, np.float64(1.0), np.bool_(True)])
def test_non_integer_wires_are_refused(wire):
    with pytest.raises(GateError, match="wire indices are ints"):
        Circuit(2).h(wire)
    with pytest.raises(GateError, match="wire indices are ints"):
        Circuit(2).append("cx", [0, wire])


def test_numpy_and_tensor_integers_are_wires():
    c = Circuit(3).cx(np.int64(0), np.int32(2)).h(torch.tensor(1))
    assert [op.wires for op in c.ops] == [(0, 2), (1,)]
    with pytest.raises(GateError, match="wire indices are ints"):
        probabilities(simulate(c), [0.5])
    with pytest.raises(ShapeError, match="Pauli term"):
        expectation(simulate(c), {1.5: "Z"})


def test_object_arrays_are_refused_as_parameters():
    with pytest.raises(GateError, match="object array|numbers"):
        Circuit(1).rx(np.array([0.1, None], dtype=object), 0)
    with pytest.raises(GateError, match="numbers"):
        Circuit(1).rx(None, 0)


# -- §4: clean errors ---------------------------------------------------------------------------

def test_unknown_and_missing_devices_are_config_errors():
    missing = "cuda:0" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(ConfigError, match="cpu"):
        simulate(Circuit(1).h(0), device=missing)
    with pytest.raises(ConfigError, match=r"unknown device 'gpu0'.*'cpu'"):
        simulate(Circuit(1).h(0), device="gpu0")
    with pytest.raises(ConfigError, match="device is a string"):
        simulate(Circuit(1).h(0), device=3.5)
    with pytest.raises(ConfigError, match="gpu0"):
        unitary_matrix(Circuit(1).h(0), device="gpu0")
    with pytest.raises(ConfigError, match="gpu0"):
        expval(Circuit(1).h(0), "Z", device="gpu0")
    assert simulate(Circuit(1).h(0), device="cpu").device.type == "cpu"


def test_empty_batches_are_refused_by_simulate():
    with pytest.raises(ShapeError, match="empty batch"):
        simulate(Circuit(2).rx(torch.empty(0), 0))
    with pytest.raises(ShapeError, match="empty batch"):
        simulate(Circuit(1), torch.zeros(0, 2, dtype=C64))


def test_sampling_nan_or_zero_states_is_refused():
    with pytest.raises(StateError, match="NaN"):
        sample(torch.tensor([math.nan, 0], dtype=C64), 4, seed=0)
    with pytest.raises(StateError, match="zero state"):
        sample(torch.zeros(2, 4, dtype=C64), 4, seed=0)
    with pytest.raises(ConfigError, match="seed"):
        sample(simulate(Circuit(1).h(0)), 4, seed="1")


def test_sample_without_a_seed_draws_fresh_randomness():
    psi = simulate(Circuit(6).h(0).h(1).h(2).h(3).h(4).h(5))  # uniform over 64 outcomes
    draws = [sample(psi, 64) for _ in range(3)]
    assert not torch.equal(draws[0], draws[1]) or not torch.equal(draws[1], draws[2])
    torch.testing.assert_close(sample(psi, 64, seed=5), sample(psi, 64, seed=5))


def test_scalar_and_object_initial_states_are_shape_errors():
    with pytest.raises(ShapeError, match=r"shape \(2,\) or \(B, 2\)"):
        simulate(Circuit(1), torch.tensor(1.0 + 0j))
    with pytest.raises(ShapeError, match="array of numbers"):
        simulate(Circuit(1), np.array([None, 1], dtype=object))


def test_trainable_nan_angles_are_refused_when_simulated():
    # building a circuit from trainable tensors skips the per-op check (hot path); simulate checks
    # each gate family once, both on the fused layer path and on the general path
    angles = torch.tensor([[0.1, math.nan], [0.2, 0.3]], requires_grad=True)
    c = Circuit(2).ry(angles[:, 0], 0).ry(angles[:, 1], 1)
    with pytest.raises(GateError, match="NaN or infinite"):
        simulate(c)
    general = Circuit(2).crx(angles[:, 1], 0, 1)
    with pytest.raises(GateError, match="NaN or infinite"):
        simulate(general)
    with pytest.raises(GateError, match="NaN or infinite"):
        simulate(Circuit(1, global_phase=angles[:, 1]).h(0))
