"""Tokenizers of circuits (qcstar.circuits.tokens): determinism, files, round trips, lengths, errors."""

import json
import math

import pytest
import torch

from qcstar.circuits import Circuit, ConfigError, DataError, simulate
from qcstar.circuits.qasm import dumps
from qcstar.circuits.tokens import (
    PAD_ID, CharTokenizer, GateTokenizer, LexicalTokenizer, TokenSequences, load_tokenizer, make_tokenizer,
)


def _orthogonal(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
    return q.to(torch.complex128)


def _aqce_like(n_qubits: int, blocks: int, seed: int) -> Circuit:
    """Like an MNISQ circuit: X gates, then real 4x4 orthogonal blocks on wire pairs."""
    c = Circuit(n_qubits)
    c.x(0).x(n_qubits - 1)
    g = torch.Generator().manual_seed(seed)
    for b in range(blocks):
        i, j = torch.randperm(n_qubits, generator=g)[:2].tolist()
        c.unitary(_orthogonal(seed * 100 + b), [i, j])
    return c


@pytest.fixture(scope="module")
def circuits():
    return [_aqce_like(5, blocks, seed) for seed, blocks in enumerate((3, 5, 2))]


ALL = [("char", {}), ("lexical", {}), ("lexical", {"numbers": "bins", "bins": 64}), ("gate", {"n_qubits": 5})]


@pytest.mark.parametrize("kind,options", ALL)
def test_tokenizers_are_deterministic_and_pad_with_zero(circuits, kind, options):
    a = make_tokenizer(kind, **options).encode_batch(circuits)
    b = make_tokenizer(kind, **options).encode_batch(circuits)
    assert torch.equal(a.ids, b.ids) and torch.equal(a.lengths, b.lengths)
    assert a.ids.shape == (3, int(a.lengths.max()))
    short = int(a.lengths.argmin())
    assert (a.ids[short, a.lengths[short]:] == PAD_ID).all() and (a.ids[short, :a.lengths[short]] != PAD_ID).all()
    assert torch.equal(a.mask, a.ids != PAD_ID)


@pytest.mark.parametrize("kind,options", ALL)
def test_save_load_round_trip(tmp_path, circuits, kind, options):
    tok = make_tokenizer(kind, max_len=100_000, **options)
    tok.save(tmp_path / "vocab.json")
    back = load_tokenizer(tmp_path / "vocab.json")
    assert back == tok and type(back) is type(tok)
    assert torch.equal(back.encode_batch(circuits).ids, tok.encode_batch(circuits).ids)


def test_load_refuses_edited_vocabulary_and_other_versions(tmp_path):
    path = tmp_path / "v.json"
    CharTokenizer().save(path)
    data = json.loads(path.read_text())
    data["symbols"][5], data["symbols"][6] = data["symbols"][6], data["symbols"][5]
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="vocabulary differs"):
        load_tokenizer(path)
    data["version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="version 99"):
        load_tokenizer(path)
    path.write_text("{}")
    with pytest.raises(DataError, match="not a qcstar tokenizer"):
        load_tokenizer(path)


def test_text_and_circuit_give_the_same_tokens(circuits):
    """Our 17-digit build of a circuit tokenizes as the circuit itself; an MNISQ-style 6-digit file
    of it too, up to last-digit changes of its re-unitarised matrices (none left after binning)."""
    c = circuits[1]
    for tok in (CharTokenizer(), LexicalTokenizer(numbers="bins"), GateTokenizer(n_qubits=5)):
        from_17 = tok.encode(dumps(c, dense="dense", precision=17)).ids
        assert torch.equal(from_17, tok.encode(c).ids)
        from_6 = tok.encode(dumps(c, dense="dense", precision=6)).ids
        if tok.kind == "char":
            assert abs(from_6.shape[1] - from_17.shape[1]) <= 8 and torch.equal(from_6[:, :60], from_17[:, :60])
        else:
            assert torch.equal(from_6, from_17)


def test_char_tokens_are_the_dense_text(circuits):
    tok = CharTokenizer()
    text = tok.text(circuits[0])
    assert "DenseMatrix(2,0," in text
    assert tok.decode(tok.encode(circuits[0]).ids[0]) == text


def _fidelity(a: Circuit, b: Circuit) -> float:
    sa, sb = (simulate(x, dtype=torch.complex128).reshape(-1) for x in (a, b))
    return float(abs(torch.vdot(sa, sb)) ** 2)


def test_lexical_digits_round_trip_to_the_same_circuit(circuits):
    from qcstar.circuits.qasm import loads

    for precision in (6, 17):
        tok = LexicalTokenizer(numbers="digits", precision=precision)
        for c in circuits:
            text = tok.decode(tok.encode(c).ids[0])
            back = loads(text)
            assert back.count_ops() == c.count_ops()
            assert _fidelity(back, c) == pytest.approx(1.0, abs=1e-9 if precision == 17 else 1e-5)


def test_lexical_bins_decode_to_bin_centres():
    tok = LexicalTokenizer(numbers="bins", bins=4, number_range=(-1, 1))
    assert [tok.bin_of(v) for v in (-1.0, -0.6, -0.1, 0.2, 0.9, 1.0)] == [0, 0, 1, 2, 3, 3]
    symbols = tok.lex("DenseMatrix(1,0,0.5,0,-0.25,0) q[2];")
    assert symbols[:6] == ["DenseMatrix", "(", "1", ",", "0", ","]
    assert "<bin3>" in symbols and "<bin1>" in symbols and "-" not in symbols  # the sign went into the bin
    assert symbols[-5:] == ["q", "[", "2", "]", ";"]
    assert "0.75" in tok.decode(tok._ids(symbols)) and "-0.25" in tok.decode(tok._ids(symbols))


def test_lexical_bins_are_shorter_than_digits_and_digits_than_char(circuits):
    c = circuits[1]
    char = len(CharTokenizer().tokens(c))
    digits = len(LexicalTokenizer().tokens(c))
    bins = len(LexicalTokenizer(numbers="bins").tokens(c))
    gate = len(GateTokenizer(n_qubits=5).tokens(c))
    assert gate == len(c.ops) == 7
    assert gate < bins < digits < char


def test_gate_tokens_and_features(circuits):
    tok = GateTokenizer(n_qubits=5)
    c = circuits[0]
    seq = tok.encode(c)
    assert seq.features.shape == (1, len(c.ops), tok.n_features)
    assert tok.symbols[int(seq.ids[0, 0])] == "x@0"
    block = c.ops[2]
    assert tok.symbols[int(seq.ids[0, 2])] == f"unitary@{block.wires[0]},{block.wires[1]}"
    m = seq.features[0, 2, 4:4 + 32].view(16, 2)
    assert torch.allclose(m[:, 0].double(), block.matrix.real.reshape(-1), atol=1e-6)
    assert (m[:, 1] == 0).all() and (seq.features[0, 0] == 0).all()  # x: no parameters, no matrix
    angled = tok.encode(Circuit(2).ry(0.3, 1).cx(1, 0))
    assert angled.features[0, 0, 0].item() == pytest.approx(0.3)
    assert tok.symbols[int(angled.ids[0, 1])] == "cx@1,0"


def test_indexing_trims_padding():
    seqs = GateTokenizer(n_qubits=3).encode_batch([Circuit(3).x(0), Circuit(3).x(0).x(1).x(2)])
    one = seqs[[0]]
    assert one.ids.shape == (1, 1) and one.features.shape == (1, 1, seqs.features.shape[2])
    assert seqs[torch.tensor([1, 0])].ids.shape == (2, 3)
    assert isinstance(seqs[0], TokenSequences) and len(seqs[0]) == 1


def test_unknown_symbols_are_refused():
    with pytest.raises(DataError, match="not in its vocabulary"):
        GateTokenizer(n_qubits=3, kinds=["x"]).encode(Circuit(3).h(0))
    with pytest.raises(DataError, match="not in its vocabulary"):
        GateTokenizer(n_qubits=2).encode(Circuit(3).x(2))
    with pytest.raises(DataError, match="controls"):
        GateTokenizer(n_qubits=3).encode(Circuit(3).mux("ry", torch.rand(2), target=0, controls=[1]))
    with pytest.raises(DataError, match="not QASM"):
        LexicalTokenizer().lex("x q[0]; @")
    with pytest.raises(DataError, match="outside number_range"):
        LexicalTokenizer(numbers="bins").encode(Circuit(1).ry(2.5, 0))
    assert LexicalTokenizer(numbers="bins", number_range=(-math.pi, math.pi)).encode(Circuit(1).ry(2.5, 0)).n_tokens
    with pytest.raises(DataError, match="printable ASCII"):
        CharTokenizer()._ids(["é"])
    with pytest.raises(DataError, match="does not parse"):
        CharTokenizer().encode("OPENQASM 2.0; qreg q[1]; nosuchgate q[0];")


def test_too_long_input_is_refused_or_truncated(circuits):
    tok = GateTokenizer(n_qubits=5, max_len=4)
    with pytest.raises(DataError, match="max_len=4"):
        tok.encode(circuits[1])
    cut = tok.encode_batch(circuits, truncate=True)
    assert cut.lengths.tolist() == [4, 4, 4]
    assert tok.lengths(circuits) == [5, 7, 4]


def test_bad_configuration_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown tokenizer"):
        make_tokenizer("bpe")
    with pytest.raises(ConfigError, match="numbers"):
        LexicalTokenizer(numbers="float")
    with pytest.raises(ConfigError, match="number_range"):
        LexicalTokenizer(number_range=(1, -1))
    with pytest.raises(ConfigError, match="max_len"):
        CharTokenizer(max_len=0)
    with pytest.raises(ConfigError, match="kinds"):
        GateTokenizer(kinds=["nosuch"])
    with pytest.raises(ConfigError, match="tokenizer"):
        make_tokenizer("char", nosuch=1)
