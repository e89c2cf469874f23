"""A bidirectional LSTM classifier (Hochreiter & Schmidhuber 1997; Graves & Schmidhuber 2005) on
token sequences: padded positions are skipped with packed sequences."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from qcstar.circuits.errors import ConfigError
from qcstar.circuits.tokens import TokenSequences

from .embedding import SequenceClassifier

Tensor = torch.Tensor

__all__ = ["LSTMClassifier"]


class LSTMClassifier(SequenceClassifier):
    """Token embedding -> ``n_layers`` bidirectional LSTM (``d_model/2`` per direction) -> pool -> linear.

    ``pool="mean"``: mean of the outputs over the real tokens; ``"cls"``: the concatenated final
    states of both directions (no extra vector: the LSTM's last states summarise the sequence).
    """

    def __init__(self, *, vocab_size: int, n_classes: int, n_features: int = 0, d_model: int = 128,
                 n_layers: int = 2, dropout: float = 0.1, pool: str = "mean"):
        super().__init__(vocab_size=vocab_size, n_features=n_features, n_classes=n_classes, d_model=d_model,
                         pool=pool)
        if d_model % 2:
            raise ConfigError(f"LSTMClassifier: d_model must be even (half per direction), got {d_model!r}")
        self.cls = None  # the final states are the summary
        self.lstm_pool = pool
        self.lstm = nn.LSTM(d_model, d_model // 2, num_layers=n_layers, batch_first=True, bidirectional=True,
                            dropout=dropout if n_layers > 1 else 0.0)
        self.config = dict(kind="lstm", vocab_size=vocab_size, n_classes=n_classes, n_features=n_features,
                           d_model=d_model, n_layers=n_layers, dropout=dropout, pool=pool)

    def encode(self, x: TokenSequences) -> tuple[Tensor, Tensor]:
        h, mask = self.embed(x), x.mask
        lengths = x.lengths.clamp_min(1).cpu()
        packed = pack_padded_sequence(h, lengths, batch_first=True, enforce_sorted=False)
        out, (h_n, _) = self.lstm(packed)
        if self.lstm_pool == "cls":
            # last layer's forward and backward final states: (N, d); put it at position 0
            summary = torch.cat([h_n[-2], h_n[-1]], dim=-1)
            return summary[:, None, :], mask[:, :1]
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=h.shape[1])
        return out, mask
