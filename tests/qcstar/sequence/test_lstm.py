"""The bidirectional LSTM classifier: both directions, packed padding, final-state pooling."""

import pytest
import torch

from qcstar.circuits.errors import ConfigError
from qcstar.circuits.tokens import TokenSequences
from qcstar.sequence.lstm import LSTMClassifier


def test_bidirectional_and_final_state_pool():
    torch.manual_seed(0)
    model = LSTMClassifier(vocab_size=6, n_classes=2, d_model=8, n_layers=1, pool="cls").eval()
    assert model.lstm.bidirectional and model.lstm.hidden_size == 4
    x = TokenSequences(torch.tensor([[1, 2, 3, 0], [1, 2, 3, 4]]), torch.tensor([3, 4]))
    h, mask = model.encode(x)
    assert h.shape == (2, 1, 8)
    alone = model(TokenSequences(torch.tensor([[1, 2, 3]]), torch.tensor([3])))
    assert torch.allclose(model(x)[0], alone[0], atol=1e-6)  # the padded step is skipped


def test_odd_width_is_refused():
    with pytest.raises(ConfigError, match="even"):
        LSTMClassifier(vocab_size=6, n_classes=2, d_model=7)
