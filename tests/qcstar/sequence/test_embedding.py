"""Token embedding, masked pooling and the classifier base."""

import pytest
import torch

from qcstar.circuits import Circuit
from qcstar.circuits.errors import ConfigError, ShapeError
from qcstar.circuits.tokens import GateTokenizer, TokenSequences
from qcstar.sequence.embedding import TokenEmbedding, masked_mean


def test_embedding_adds_features_only_at_real_tokens():
    tok = GateTokenizer(n_qubits=2)
    seqs = tok.encode_batch([Circuit(2).ry(0.5, 0), Circuit(2).ry(0.1, 0).ry(0.2, 1).cx(0, 1)])
    emb = TokenEmbedding(vocab_size=tok.vocab_size, d_model=8, n_features=tok.n_features)
    h = emb(seqs)
    assert h.shape == (2, 3, 8)
    assert torch.equal(h[0, 1:], torch.zeros(2, 8))  # padding: zero id embedding, no features
    changed = TokenSequences(seqs.ids, seqs.lengths, seqs.features * 2)
    assert not torch.allclose(emb(changed)[0, 0], h[0, 0])  # the angle enters as a value


def test_masked_mean_ignores_padding():
    h = torch.tensor([[[1.0], [3.0], [100.0]]])
    assert masked_mean(h, torch.tensor([[True, True, False]])).item() == 2.0


def test_embedding_errors():
    with pytest.raises(ShapeError, match="TokenSequences"):
        TokenEmbedding(vocab_size=4, d_model=2)(torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ShapeError, match="features"):
        TokenEmbedding(vocab_size=4, d_model=2, n_features=3)(TokenSequences(torch.ones(1, 2, dtype=torch.long),
                                                                               torch.tensor([2])))
    with pytest.raises(ConfigError, match="vocab_size"):
        TokenEmbedding(vocab_size=1, d_model=2)
