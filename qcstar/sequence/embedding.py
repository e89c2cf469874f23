"""What the three sequence classifiers share: the token embedding, pooling and the head.

:class:`TokenEmbedding` maps :class:`~qcstar.circuits.tokens.TokenSequences` to vectors: a learned
embedding of the discrete ids, plus - for the ``gate`` tokenizer - a linear map of each token's
continuous features (parameters and matrix entries), in the spirit of xVal (Golkar et al.,
arXiv:2310.02989): numbers enter as values, not as text.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from qcstar.circuits.errors import ConfigError, ShapeError
from qcstar.circuits.tokens import PAD_ID, TokenSequences

Tensor = torch.Tensor

__all__ = ["TokenEmbedding", "SequenceClassifier", "masked_mean", "POOLS"]

POOLS = ("mean", "cls")


class TokenEmbedding(nn.Module):
    """``(N, L)`` ids (+ ``(N, L, F)`` features) -> ``(N, L, d_model)``; zero at padding."""

    def __init__(self, *, vocab_size: int, d_model: int, n_features: int = 0):
        super().__init__()
        if vocab_size < 2 or d_model < 1 or n_features < 0:
            raise ConfigError(f"TokenEmbedding: need vocab_size >= 2, d_model >= 1, n_features >= 0, got "
                              f"{vocab_size!r}, {d_model!r}, {n_features!r}")
        self.n_features = n_features
        self.ids = nn.Embedding(vocab_size, d_model, padding_idx=PAD_ID)
        self.features = nn.Linear(n_features, d_model) if n_features else None

    def forward(self, x: TokenSequences) -> Tensor:
        if not isinstance(x, TokenSequences):
            raise ShapeError(f"sequence models read qcstar.circuits.tokens.TokenSequences, got {type(x).__name__}")
        h = self.ids(x.ids)                                                          # (N, L, d)
        if self.features is not None:
            if x.features is None or x.features.shape[-1] != self.n_features:
                got = None if x.features is None else x.features.shape[-1]
                raise ShapeError(f"the embedding expects {self.n_features} features per token (the gate "
                                 f"tokenizer), got {got}")
            h = h + self.features(x.features) * x.mask[..., None]
        return h


def masked_mean(h: Tensor, mask: Tensor) -> Tensor:
    """Mean over the real tokens: (N, L, d), (N, L) bool -> (N, d)."""
    m = mask[..., None].to(h.dtype)
    return (h * m).sum(1) / m.sum(1).clamp_min(1)


class SequenceClassifier(nn.Module):
    """Base: ``embed`` -> ``backbone`` (subclass) -> pool -> ``LayerNorm`` -> ``Linear`` head.

    Subclasses set ``self.backbone_modules`` (for :meth:`parameter_counts`) and implement
    :meth:`encode` ``(x) -> (h (N, L', d), mask (N, L'))``; with ``pool="cls"`` a learned
    vector is prepended and its output is the sequence's summary.
    """

    def __init__(self, *, vocab_size: int, n_features: int, n_classes: int, d_model: int, pool: str):
        super().__init__()
        if pool not in POOLS:
            raise ConfigError(f"pool must be one of {POOLS}, got {pool!r}")
        if n_classes < 2:
            raise ConfigError(f"n_classes must be >= 2, got {n_classes!r}")
        self.pool = pool
        self.d_model = d_model
        self.config: dict[str, Any] = {}
        self.embed = TokenEmbedding(vocab_size=vocab_size, d_model=d_model, n_features=n_features)
        self.cls = nn.Parameter(torch.randn(d_model) * 0.02) if pool == "cls" else None
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)
        #: an input transform applied in training mode only (:class:`qcstar.sequence.augment.GaugeAugment`)
        self.augment: nn.Module | None = None

    def embed_tokens(self, x: TokenSequences) -> tuple[Tensor, Tensor]:
        """Embedded tokens (N, L, d) and mask (N, L), with the CLS vector first when ``pool="cls"``."""
        h, mask = self.embed(x), x.mask
        if self.cls is not None:
            h = torch.cat([self.cls.expand(h.shape[0], 1, -1).to(h.dtype), h], dim=1)
            mask = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
        return h, mask

    def encode(self, x: TokenSequences) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def forward(self, x: TokenSequences) -> Tensor:
        if self.augment is not None and self.training:
            x = self.augment(x)
        h, mask = self.encode(x)
        summary = h[:, 0] if self.pool == "cls" else masked_mean(h, mask)
        return self.head(self.norm(summary.float()))

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters: embedding (tokens, features, learned positions), backbone, head
        (norm + linear + CLS) and total."""
        count = lambda ps: sum(p.numel() for p in ps if p.requires_grad)  # noqa: E731
        positions = getattr(self, "positions", None)
        embedding = count(self.embed.parameters()) + (positions.numel() if isinstance(positions, nn.Parameter) else 0)
        total = count(self.parameters())
        head = count(self.head.parameters()) + count(self.norm.parameters()) + (self.cls.numel() if self.cls is not None else 0)
        return {"embedding": embedding, "backbone": total - embedding - head, "head": head, "total": total}

    def optimizer_groups(self, lr: float, weight_decay: float) -> list[dict[str, Any]]:
        """AdamW parameter groups: biases, norms and embeddings without weight decay."""
        decay, no_decay = [], []
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.dim() < 2 or name.startswith("embed.ids") else decay).append(p)
        return [{"params": decay, "lr": lr, "weight_decay": weight_decay},
                {"params": no_decay, "lr": lr, "weight_decay": 0.0}]
