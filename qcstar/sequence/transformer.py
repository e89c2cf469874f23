"""A pre-norm Transformer encoder classifier (Vaswani et al., arXiv:1706.03762; pre-norm as in
Xiong et al., arXiv:2002.04745) on token sequences.

Attention is :func:`torch.nn.functional.scaled_dot_product_attention`, so on a GPU the flash or
memory-efficient kernels run when the inputs allow them (bf16 under autocast); padding is masked.
Positions are learned (up to ``max_len``) or sinusoidal (any length).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from qcstar.circuits.errors import ConfigError, DataError
from qcstar.circuits.resources import check_memory
from qcstar.circuits.tokens import TokenSequences

from .embedding import SequenceClassifier

Tensor = torch.Tensor

__all__ = ["TransformerClassifier", "EncoderBlock", "sinusoidal_positions"]


def sinusoidal_positions(length: int, d_model: int, device: torch.device | None = None) -> Tensor:
    """(L, d) sine/cosine position codes of Vaswani et al."""
    pos = torch.arange(length, dtype=torch.float32, device=device)[:, None]
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / d_model))
    out = torch.zeros(length, d_model, device=device)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq)[:, :d_model // 2]
    return out


class EncoderBlock(nn.Module):
    """``x + Attn(LN(x))``, then ``x + MLP(LN(x))``."""

    def __init__(self, *, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.dropout = nn.Dropout(dropout)
        self.p = dropout

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        N, L, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(N, L, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        # (N, heads, L, d/heads) each; padded keys are masked out for every query
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :],
                                              dropout_p=self.p if self.training else 0.0)
        x = x + self.dropout(self.proj(attn.transpose(1, 2).reshape(N, L, d)))
        return x + self.dropout(self.mlp(self.norm2(x)))


class TransformerClassifier(SequenceClassifier):
    """Token embedding + positions -> ``n_layers`` pre-norm blocks -> mean or CLS pool -> linear.

    Example::

        model = TransformerClassifier(vocab_size=tok.vocab_size, n_classes=10, d_model=128, n_layers=4)
        logits = model(tok.encode_batch(circuits))
    """

    def __init__(self, *, vocab_size: int, n_classes: int, n_features: int = 0, d_model: int = 128,
                 n_layers: int = 4, n_heads: int = 4, d_ff: int | None = None, dropout: float = 0.1,
                 positions: str = "learned", max_len: int = 8192, pool: str = "mean"):
        super().__init__(vocab_size=vocab_size, n_features=n_features, n_classes=n_classes, d_model=d_model,
                         pool=pool)
        if d_model % n_heads:
            raise ConfigError(f"TransformerClassifier: d_model {d_model} must be a multiple of n_heads {n_heads}")
        if positions not in ("learned", "sinusoidal"):
            raise ConfigError(f"positions must be 'learned' or 'sinusoidal', got {positions!r}")
        self.positions_kind = positions
        self.max_len = max_len
        self.positions = nn.Parameter(torch.randn(max_len + 1, d_model) * 0.02) if positions == "learned" else None
        self.blocks = nn.ModuleList(EncoderBlock(d_model=d_model, n_heads=n_heads, d_ff=d_ff or 2 * d_model,
                                                 dropout=dropout) for _ in range(n_layers))
        self.final_norm = nn.LayerNorm(d_model)
        self.config = dict(kind="transformer", vocab_size=vocab_size, n_classes=n_classes, n_features=n_features,
                           d_model=d_model, n_layers=n_layers, n_heads=n_heads, d_ff=d_ff or 2 * d_model,
                           dropout=dropout, positions=positions, max_len=max_len, pool=pool)

    def encode(self, x: TokenSequences) -> tuple[Tensor, Tensor]:
        h, mask = self.embed_tokens(x)
        L = h.shape[1]
        if self.positions is not None:
            if L > self.max_len + 1:
                raise DataError(f"TransformerClassifier: a sequence of {L} tokens is longer than its learned "
                                f"positions (max_len={self.max_len}); build it with a larger max_len or sinusoidal positions")
            h = h + self.positions[:L]
        else:
            h = h + sinusoidal_positions(L, self.d_model, h.device)
        self._check_attention_memory(h.shape[0], L, h.element_size())
        for block in self.blocks:
            h = block(h, mask)
        return self.final_norm(h), mask

    def _check_attention_memory(self, batch: int, length: int, itemsize: int) -> None:
        """Refuse, before allocating, attention weights that cannot fit: with a padding mask the CPU
        computes (batch, heads, L, L) scores per layer, and training keeps every layer's."""
        n_heads = self.blocks[0].n_heads if len(self.blocks) else 1
        kept = len(self.blocks) if torch.is_grad_enabled() else 1
        check_memory(batch * n_heads * length * length * itemsize * 2 * kept,
                     f"Transformer attention over {batch} sequences of {length} tokens ({n_heads} heads, {kept} layer(s) "
                     "kept); use a smaller batch or --max-len with --truncate, or the S4D")
