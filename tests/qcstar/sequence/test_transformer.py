"""The pre-norm Transformer classifier: attention masks padding, positions, pooling."""

import pytest
import torch

from qcstar.circuits.tokens import TokenSequences
from qcstar.sequence.transformer import EncoderBlock, TransformerClassifier, sinusoidal_positions


def test_attention_ignores_padded_keys():
    torch.manual_seed(0)
    block = EncoderBlock(d_model=8, n_heads=2, d_ff=16, dropout=0.0).eval()
    x = torch.randn(1, 5, 8)
    mask = torch.tensor([[True, True, True, False, False]])
    changed = x.clone()
    changed[:, 3:] = 100.0  # whatever sits at padded positions
    assert torch.allclose(block(x, mask)[:, :3], block(changed, mask)[:, :3], atol=1e-5)


def test_sinusoidal_positions_are_the_textbook_ones():
    p = sinusoidal_positions(4, 6)
    assert torch.allclose(p[:, 0], torch.sin(torch.arange(4.0)))
    assert torch.allclose(p[:, 1], torch.cos(torch.arange(4.0)))
    assert torch.allclose(p[2, 2], torch.sin(torch.tensor(2.0) / 10000 ** (2 / 6)))


def test_cls_pool_reads_the_prepended_vector():
    torch.manual_seed(1)
    model = TransformerClassifier(vocab_size=6, n_classes=3, d_model=8, n_layers=1, n_heads=2, pool="cls",
                                  max_len=8, dropout=0.0).eval()
    x = TokenSequences(torch.tensor([[1, 2, 3]]), torch.tensor([3]))
    h, mask = model.encode(x)
    assert h.shape == (1, 4, 8) and mask.all()
    assert torch.allclose(model(x), model.head(model.norm(h[:, 0])))
    assert model.config["pool"] == "cls" and model.config["d_ff"] == 16


def test_attention_that_cannot_fit_is_refused_before_allocating():
    from qcstar.circuits.errors import ResourceError
    from qcstar.circuits.resources import reset_memory_limit, set_memory_limit

    model = TransformerClassifier(vocab_size=6, n_classes=3, d_model=8, n_layers=2, n_heads=2,
                                  positions="sinusoidal")
    set_memory_limit(1 << 20)
    try:
        with pytest.raises(ResourceError, match="Transformer attention over 2 sequences of 400 tokens"):
            model(TokenSequences(torch.ones(2, 400, dtype=torch.long), torch.tensor([400, 400])))
    finally:
        reset_memory_limit()
