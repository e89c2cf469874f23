"""Tests of encoders.aqce: MNISQ's AQCE, batched. Small inputs (6 qubits, few sweeps or blocks)
where the test is about logic; the 10-qubit f80 run on a few images is marked slow, and its
assertions also run on a 6-qubit circuit by default."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from qcstar import circuits
from qcstar.encoders.aqce import (
    AQCEEncoder,
    _polar,
    _tables,
    amplitude_vectors,
    apply_blocks,
    pair_environments,
    singular_values_4x4,
)


def _digits(count: int) -> np.ndarray:
    """sklearn's 8x8 digits (64 pixels = 6 qubits), no download."""
    from sklearn.datasets import load_digits

    return load_digits().images[:count]


@pytest.fixture(scope="module")
def f80_10q():
    """f80 on 3 digits upsampled to 24x24 (576 pixels, 10 qubits): one shared run."""
    imgs = np.kron(_digits(3), np.ones((3, 3)))
    enc = AQCEEncoder(level="f80")
    return enc, imgs, enc.encode(imgs)


@pytest.fixture(scope="module")
def f80_6q():
    """f80's 27 blocks on 3 8x8 digits (6 qubits) with one sweep: the fast version of f80_10q."""
    imgs = _digits(3)
    enc = AQCEEncoder(level="f80", n_qubits=6, sweeps=1)
    return enc, imgs, enc.encode(imgs)


def test_preprocessing_matches_mnisq():
    img = np.arange(784, dtype=np.float64).reshape(1, 28, 28) % 256
    t = amplitude_vectors(img)
    ref = img.reshape(1, -1) / 255.0
    ref = ref / np.linalg.norm(ref)
    assert t.shape == (1, 1024)
    assert torch.allclose(t[:, :784], torch.from_numpy(ref), atol=1e-15)
    assert (t[:, 784:] == 0).all()  # zero padding at the end, pixel k <-> basis k


def test_kernels_match_naive_einsum():
    n, b = 6, 3
    g = torch.Generator().manual_seed(0)
    phi = torch.randn(b, 2**n, dtype=torch.float64, generator=g)
    chi = torch.randn(b, 2**n, dtype=torch.float64, generator=g)
    tab = _tables(n, torch.device("cpu"))
    env = pair_environments(phi, chi, tab)
    for p, (i, j) in enumerate(itertools.combinations(range(n), 2)):
        ai, aj = n - i, n - j  # tensor axis of qubit q is n - q (axis 0 = batch)
        rest = [d for d in range(1, n + 1) if d not in (ai, aj)]
        pm = phi.view(b, *[2] * n).permute(0, aj, ai, *rest).reshape(b, 4, -1)
        xm = chi.view(b, *[2] * n).permute(0, aj, ai, *rest).reshape(b, 4, -1)
        assert torch.allclose(env[:, p], pm @ xm.transpose(1, 2), atol=1e-13)
        # a block on (i, j) through apply_blocks equals the same block through the simulator
        u = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64, generator=g))[0]
        ours = apply_blocks(phi, u.expand(b, 4, 4), torch.full((b,), p), tab)
        c = circuits.Circuit(n).unitary(u, (i, j))
        ref = circuits.simulate(c, phi.to(torch.complex128), dtype=torch.complex128).real
        assert torch.allclose(ours, ref, atol=1e-13)
    e = torch.randn(500, 4, 4, dtype=torch.float64, generator=g)
    e[:50] = e[:50, :, :1] @ e[:50, :1, :]  # rank-1 cases
    sv = singular_values_4x4(e).sort(-1).values
    assert torch.allclose(sv, torch.linalg.svdvals(e).sort(-1).values, atol=1e-12)


@pytest.mark.parametrize("level,blocks", [("f80", 27), ("f90", 54), ("f95", 108)])
def test_presets_give_mnisq_block_counts(level, blocks):
    enc = AQCEEncoder(level=level, n_qubits=6, sweeps=0)  # sweeps do not change the count
    res = enc.encode(_digits(2))
    assert res.n_blocks.tolist() == [blocks, blocks]
    assert res.matrices.shape == (2, blocks, 4, 4)


@pytest.mark.parametrize("run", ["f80_6q", pytest.param("f80_10q", marks=pytest.mark.slow)])
def test_f80_overlap_recomputed_from_circuit(run, request):
    enc, imgs, res = request.getfixturevalue(run)
    n = enc.n_qubits
    assert res.n_blocks.tolist() == [27, 27, 27]
    assert (res.overlap > 0.8).all()  # smooth upsampled digits encode well at f80
    circs = enc.circuits(imgs)
    sim = torch.stack([circuits.simulate(c, dtype=torch.complex128) for c in circs])
    again = (sim.conj() * res.targets.to(torch.complex128)).sum(1)
    assert torch.allclose(again.real, res.overlap, atol=1e-10)
    assert again.imag.abs().max() < 1e-12
    assert torch.allclose(again.abs() ** 2, res.fidelity, atol=1e-10)
    assert torch.allclose(sim, enc.states(imgs), atol=1e-10)
    m = res.matrices
    assert torch.allclose(m @ m.transpose(-1, -2), torch.eye(4, dtype=m.dtype).expand_as(m), atol=1e-10)
    # circuits start with X gates on the bits of the brightest pixel
    for b, c in enumerate(circs):
        xs = [op.wires[0] for op in c.ops if op.name == "x"]
        assert xs == [q for q in range(n) if res.init_bits[b, q]]
        assert c.count_ops()["unitary"] == 27


def test_batched_equals_per_image_and_deterministic():
    imgs = _digits(3)
    small = dict(level="f80", n_qubits=6, max_blocks=9, sweeps=1)  # seed, growth and a sweep, all small
    enc = AQCEEncoder(batch_size=3, **small)
    res = enc.encode(imgs)
    again = AQCEEncoder(batch_size=3, **small).encode(imgs)
    assert torch.equal(res.matrices, again.matrices) and torch.equal(res.overlap, again.overlap)
    for b in range(3):
        one = AQCEEncoder(batch_size=1, **small).encode(imgs[b : b + 1])
        assert torch.equal(one.pairs[0], res.pairs[b])
        assert torch.allclose(one.matrices[0], res.matrices[b], atol=1e-12)
        assert torch.allclose(one.overlap, res.overlap[b : b + 1], atol=1e-12)


def test_sweeps_do_not_lower_the_overlap_much():
    imgs = _digits(2)
    few = AQCEEncoder(level="f80", n_qubits=6, max_blocks=12, sweeps=1).encode(imgs).overlap
    many = AQCEEncoder(level="f80", n_qubits=6, max_blocks=12, sweeps=4).encode(imgs).overlap
    assert (many >= few - 1e-6).all()


def test_target_overlap_mode_stops_at_target():
    imgs = _digits(3)
    tau = 0.97
    enc = AQCEEncoder(level=None, target_overlap=tau, n_qubits=6, max_blocks=30)
    res = enc.encode(imgs)
    reached = res.overlap >= tau
    assert reached.all()
    assert (res.n_blocks <= 30).all() and (res.n_blocks > 0).all()
    # padded entries are identities on pair -1, real ones are the emitted circuit
    circs = enc.circuits(imgs)
    for b, c in enumerate(circs):
        assert c.count_ops().get("unitary", 0) == int(res.n_blocks[b])
        sim = circuits.simulate(c, dtype=torch.complex128).real
        assert abs(float(sim @ res.targets[b]) - float(res.overlap[b])) < 1e-10
    capped = AQCEEncoder(level=None, target_overlap=0.9999999, n_qubits=6, max_blocks=4).encode(imgs)
    assert (capped.n_blocks <= 4).all()


def test_basis_state_image_needs_no_blocks():
    img = np.zeros((1, 8, 8))
    img[0, 2, 5] = 200.0
    res = AQCEEncoder(level=None, target_overlap=0.95, n_qubits=6).encode(img)
    assert res.n_blocks.tolist() == [0]
    assert float(res.overlap[0]) == pytest.approx(1.0, abs=1e-15)
    k = 2 * 8 + 5
    assert res.init_bits[0].tolist() == [(k >> q) & 1 for q in range(6)]
    full = AQCEEncoder(level="f80", n_qubits=6, sweeps=2).encode(img)  # budget mode still emits 27 blocks
    assert full.n_blocks.tolist() == [27]
    assert float(full.overlap[0]) == pytest.approx(1.0, abs=1e-9)


def test_float32_option_runs():
    res = AQCEEncoder(level="f80", n_qubits=6, dtype=torch.float32, sweeps=2, max_blocks=9).encode(_digits(2))
    assert res.overlap.dtype == torch.float32 and (res.overlap > 0.5).all()


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.zeros((2, 8, 8)), "all zero"),
        (np.full((1, 8, 8), np.nan), "NaN or inf"),
        (np.zeros((0, 8, 8)), "empty"),
        (np.ones((1, 2, 2, 2)), "x\\[None\\]"),
        (np.ones((1, 9, 9)), "n_qubits=7"),
        (np.ones((1, 2, 2, 2, 2)), "batch of images"),
    ],
)
def test_bad_inputs_raise_shape_error(bad, match):
    enc = AQCEEncoder(level="f80", n_qubits=6)
    with pytest.raises(circuits.ShapeError, match="AQCEEncoder") as info:
        enc.encode(bad)
    assert info.match(match)


def test_bad_config_raises():
    with pytest.raises(ValueError, match="level"):
        AQCEEncoder(level="f99")
    with pytest.raises(ValueError, match="target_overlap"):
        AQCEEncoder(level=None)
    with pytest.raises(ValueError, match="n_qubits"):
        AQCEEncoder(n_qubits=1)


def test_single_flat_sample_is_a_batch_of_one():
    """The Encoder interface reads a 1-D input as one sample."""
    from sklearn.datasets import load_digits

    from qcstar.encoders.base import Encoder

    img = torch.tensor(load_digits().images[3], dtype=torch.float64).reshape(-1)  # (64,)
    enc = AQCEEncoder(level="f80", n_qubits=6, max_blocks=4, sweeps=1)
    assert isinstance(enc, Encoder)
    one = enc.states(img)
    batch = AQCEEncoder(level="f80", n_qubits=6, max_blocks=4, sweeps=1).states(img[None])
    assert one.shape == (1, 64)
    torch.testing.assert_close(one, batch, atol=0, rtol=0)


def test_block_update_maximises_the_trace():
    g = torch.Generator().manual_seed(4)
    e = torch.randn(20, 4, 4, dtype=torch.float64, generator=g)
    u = _polar(e, 0.0)
    best = torch.einsum("bij,bji->b", u, e)  # Tr(U E)
    assert torch.allclose(best, torch.linalg.svdvals(e).sum(-1), atol=1e-12)  # the nuclear norm: the maximum
    assert torch.allclose(u @ u.transpose(-1, -2), torch.eye(4, dtype=torch.float64).expand(20, 4, 4), atol=1e-12)
