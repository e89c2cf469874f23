"""Gauge augmentation: every augmented circuit prepares the same state (checked by simulation),
it changes the tokens it may change, and nothing outside training mode."""

import math

import pytest
import torch

from qcstar.circuits.errors import ConfigError, ShapeError
from qcstar.circuits.ir import Circuit
from qcstar.circuits.statevector import simulate
from qcstar.circuits.tokens import N_MATRIX, N_PARAMS, TokenSequences, make_tokenizer
from qcstar.sequence import GaugeAugment, gauge_table, make_model

N_QUBITS = 5


def _orthogonal(g: torch.Generator, complex_: bool) -> torch.Tensor:
    a = torch.randn(4, 4, 2 if complex_ else 1, generator=g, dtype=torch.float64)
    a = torch.complex(a[..., 0], a[..., 1]) if complex_ else a[..., 0].to(torch.complex128)
    q, _ = torch.linalg.qr(a)
    return q


def _circuit(seed: int, *, complex_: bool = False, n_blocks: int = 12) -> Circuit:
    """x gates, blocks on random wire pairs, an x in the middle (breaks the chain), more blocks."""
    g = torch.Generator().manual_seed(seed)
    c = Circuit(N_QUBITS)
    c.append("x", [1])
    c.append("x", [3])
    for k in range(n_blocks):
        a, b = torch.randperm(N_QUBITS, generator=g)[:2].tolist()
        c.unitary(_orthogonal(g, complex_), [a, b])
        if k == n_blocks // 2:
            c.append("x", [a])
    return c


def _rebuild(tok, x: TokenSequences, k: int) -> Circuit:
    c = Circuit(N_QUBITS)
    for i in range(int(x.lengths[k])):
        kind, wires = tok.symbols[int(x.ids[k, i])].split("@")
        wires = [int(w) for w in wires.split(",")]
        if kind == "unitary":
            entries = x.features[k, i, N_PARAMS:N_PARAMS + N_MATRIX].double().reshape(16, 2).contiguous()
            c.unitary(torch.view_as_complex(entries).reshape(4, 4), wires)
        else:
            c.append(kind, wires)
    return c


@pytest.fixture(scope="module")
def tok():
    return make_tokenizer("gate", n_qubits=N_QUBITS)


@pytest.fixture(scope="module")
def batch(tok):
    circuits = [_circuit(s) for s in range(6)] + [_circuit(10 + s, complex_=True, n_blocks=8) for s in range(3)]
    return circuits, tok.encode_batch(circuits)


@pytest.mark.parametrize("options", [dict(), dict(swaps=0), dict(angle=0.0, reflect=1.0, swaps=0),
                                     dict(angle=0.3, reflect=0.0, swaps=3)])
def test_augmented_circuits_prepare_the_same_state(tok, batch, options):
    circuits, x = batch
    torch.manual_seed(1)
    y = GaugeAugment(gauge_table(tok), **options).train()(x)
    assert torch.equal(y.lengths, x.lengths)
    for k, circuit in enumerate(circuits):
        want = simulate(circuit)
        assert torch.allclose(simulate(_rebuild(tok, x, k)), want, atol=1e-6)  # the tokenizer is exact
        got = simulate(_rebuild(tok, y, k))
        assert torch.allclose(got, want, atol=2e-6), (k, float((got - want).abs().max()))
    changed = (y.features - x.features).abs().amax(-1) > 1e-4
    assert changed.float().mean() > 0.3  # most blocks have a neighbour on a shared wire
    assert not changed[~x.mask].any()    # padding stays zero


def test_swaps_only_reorder_commuting_ops(tok, batch):
    _, x = batch
    torch.manual_seed(2)
    y = GaugeAugment(gauge_table(tok), angle=0.0, reflect=0.0, swaps=4).train()(x)
    assert not torch.equal(y.ids, x.ids)
    for k in range(len(x)):
        assert sorted(y.ids[k].tolist()) == sorted(x.ids[k].tolist())
    # the x gates (non-block ops) never move: nothing passes across them
    x_pos = ~torch.isin(x.ids, (gauge_table(tok)[:, 0] >= 0).nonzero().flatten()) & x.mask
    assert torch.equal(y.ids[x_pos], x.ids[x_pos])


def test_identity_in_eval_mode_and_at_p_zero(tok, batch):
    _, x = batch
    table = gauge_table(tok)
    assert GaugeAugment(table).eval()(x) is x
    y = GaugeAugment(table, p=0.0, swaps=0).train()(x)
    assert torch.equal(y.features, x.features) and torch.equal(y.ids, x.ids)


def test_gauge_table_marks_the_two_qubit_blocks(tok):
    table = gauge_table(tok)
    assert table.shape == (tok.vocab_size, 2)
    assert table[tok.index["unitary@3,1"]].tolist() == [3, 1]
    assert table[tok.index["x@2"]].tolist() == [-1, -1]
    assert table[0].tolist() == [-1, -1]


def test_clear_errors(tok, batch):
    with pytest.raises(ConfigError, match="gate tokens"):
        gauge_table(make_tokenizer("char"))
    with pytest.raises(ConfigError, match="angle"):
        GaugeAugment(gauge_table(tok), angle=4.0)
    with pytest.raises(ConfigError, match="swaps"):
        GaugeAugment(gauge_table(tok), swaps=-1)
    _, x = batch
    with pytest.raises(ShapeError, match="matrix features"):
        GaugeAugment(gauge_table(tok)).train()(TokenSequences(x.ids, x.lengths))
    with pytest.raises(ConfigError, match="vocabulary"):
        make_model("s4d", vocab_size=tok.vocab_size + 1, n_features=tok.n_features, n_classes=3, d_model=8,
                   n_layers=1, augment=GaugeAugment(gauge_table(tok)))


@pytest.mark.parametrize("kind", ["s4d", "transformer", "lstm"])
def test_models_augment_in_training_only(tok, batch, kind):
    _, x = batch
    torch.manual_seed(0)
    model = make_model(kind, vocab_size=tok.vocab_size, n_features=tok.n_features, n_classes=3, d_model=16,
                       n_layers=1, dropout=0.0, augment=GaugeAugment(gauge_table(tok), angle=math.pi),
                       **({"max_len": 64} if kind == "transformer" else {}))
    assert model.config["augment"] == {"kind": "gauge", "angle": math.pi, "reflect": 0.5, "p": 1.0, "swaps": 2}
    assert "augment.table" in model.state_dict()
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.allclose(model(x), model(x))  # a fresh draw per call
