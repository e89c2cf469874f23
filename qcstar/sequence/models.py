"""The three sequence classifiers by name, size-matched configurations and parameter counts.

* ``s4d``: :class:`S4DClassifier` - embedding -> ``n_layers`` x [LayerNorm, S4D
  (:mod:`qcstar.sequence.s4d`, bidirectional), dropout, residual] -> LayerNorm -> pool -> linear,
  the layout of the S4D paper's experiments (arXiv:2206.11893) with pre-norm.
* ``transformer``: :class:`qcstar.sequence.transformer.TransformerClassifier`.
* ``lstm``: :class:`qcstar.sequence.lstm.LSTMClassifier`.

:func:`size_matched` picks the Transformer's and the LSTM's width so that their backbones hold
about as many parameters as the S4D's of the same depth (embeddings differ with the vocabulary
and are counted apart): a comparison of architectures, not of sizes.

Example::

    configs = size_matched(d_model=64, n_layers=4)
    model = make_model("transformer", vocab_size=tok.vocab_size, n_features=tok.n_features, n_classes=10,
                       **configs["transformer"])
    model.parameter_counts()     # {"embedding": ..., "backbone": ..., "head": ..., "total": ...}
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from qcstar.circuits.errors import ConfigError
from qcstar.circuits.tokens import TokenSequences

from .augment import GaugeAugment
from .embedding import SequenceClassifier
from .lstm import LSTMClassifier
from .s4d import S4D, SSM_PARAMETERS
from .transformer import TransformerClassifier

Tensor = torch.Tensor

__all__ = ["S4DClassifier", "MODELS", "make_model", "size_matched", "parameter_counts", "SSM_LR"]

#: the SSM parameters' learning rate cap (and no weight decay), as in the S4D paper's experiments
SSM_LR = 1e-3


class S4DClassifier(SequenceClassifier):
    """Embedding -> ``n_layers`` pre-norm residual S4D blocks -> pool -> linear.

    Padded positions are zeroed before every S4D layer, so a bidirectional layer's backward pass
    starts from the zero state at the last real token, as if the sequence had no padding.
    """

    def __init__(self, *, vocab_size: int, n_classes: int, n_features: int = 0, d_model: int = 64,
                 n_layers: int = 4, d_state: int = 64, init: str = "lin", dropout: float = 0.1,
                 bidirectional: bool = True, pool: str = "mean", chunk: int = 0):
        super().__init__(vocab_size=vocab_size, n_features=n_features, n_classes=n_classes, d_model=d_model,
                         pool=pool)
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(n_layers))
        self.layers = nn.ModuleList(
            S4D(d_model=d_model, d_state=d_state, init=init, dropout=dropout, bidirectional=bidirectional,
                transposed=True, chunk=chunk) for _ in range(n_layers))
        self.dropout = nn.Dropout(dropout)
        self.final_norm = nn.LayerNorm(d_model)
        self.config = dict(kind="s4d", vocab_size=vocab_size, n_classes=n_classes, n_features=n_features,
                           d_model=d_model, n_layers=n_layers, d_state=d_state, init=init, dropout=dropout,
                           bidirectional=bidirectional, pool=pool)

    def encode(self, x: TokenSequences) -> tuple[Tensor, Tensor]:
        h, mask = self.embed_tokens(x)                                               # (N, L, H), (N, L)
        keep = mask[..., None].to(h.dtype)
        for norm, layer in zip(self.norms, self.layers):
            z = (norm(h) * keep).transpose(1, 2)                                     # (N, H, L)
            h = h + self.dropout(layer(z).transpose(1, 2)).to(h.dtype)
        return self.final_norm(h), mask

    def optimizer_groups(self, lr: float, weight_decay: float) -> list[dict[str, Any]]:
        """The base groups, with the SSM parameters apart: ``min(lr, 1e-3)`` and no weight decay."""
        ssm = {id(getattr(layer.kernel, name)) for layer in self.layers for name in SSM_PARAMETERS}
        groups = super().optimizer_groups(lr, weight_decay)
        for g in groups:
            g["params"] = [p for p in g["params"] if id(p) not in ssm]
        ssm_params = [p for p in self.parameters() if id(p) in ssm]
        return groups + [{"params": ssm_params, "lr": min(lr, SSM_LR), "weight_decay": 0.0}]


MODELS: dict[str, type[SequenceClassifier]] = {
    "s4d": S4DClassifier, "transformer": TransformerClassifier, "lstm": LSTMClassifier,
}


def make_model(kind: str, *, vocab_size: int, n_classes: int, n_features: int = 0,
               augment: GaugeAugment | None = None, **options: Any) -> SequenceClassifier:
    """A classifier by name (``"s4d"``, ``"transformer"``, ``"lstm"``) with its keyword options.

    ``augment``: a :class:`~qcstar.sequence.augment.GaugeAugment` applied to the input in training
    mode (gate tokens only); its settings go into ``model.config["augment"]``.
    """
    cls = MODELS.get(kind)
    if cls is None:
        raise ConfigError(f"unknown sequence model {kind!r}; expected one of {', '.join(MODELS)}")
    try:
        model = cls(vocab_size=vocab_size, n_classes=n_classes, n_features=n_features, **options)
    except TypeError as exc:
        raise ConfigError(f"{kind}: {exc}") from None
    if augment is not None:
        if augment.table.shape[0] != vocab_size:
            raise ConfigError(f"augment: its table covers {augment.table.shape[0]} tokens, the model's vocabulary "
                              f"{vocab_size}; build it with gauge_table(tokenizer) of the same tokenizer")
        model.augment = augment
        model.config["augment"] = {"kind": "gauge", "angle": augment.angle, "reflect": augment.reflect,
                                   "p": augment.p, "swaps": augment.swaps}
    return model


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Trainable parameters by part (``embedding``, ``backbone``, ``head``, ``total``) of a
    sequence classifier, or ``{"total": n}`` for any other module."""
    if isinstance(model, SequenceClassifier):
        return model.parameter_counts()
    return {"total": sum(p.numel() for p in model.parameters() if p.requires_grad)}


def _backbone(kind: str, d_model: int, n_layers: int, options: dict[str, Any]) -> int:
    with torch.random.fork_rng(devices=[]):
        model = make_model(kind, vocab_size=2, n_classes=2, d_model=d_model, n_layers=n_layers, **options)
    return model.parameter_counts()["backbone"]


def size_matched(*, d_model: int = 64, n_layers: int = 4, d_state: int = 64, step: int = 8,
                 options: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Configurations of the three models of depth ``n_layers`` with about equal backbones.

    The S4D has width ``d_model``; the Transformer's and the LSTM's widths (multiples of
    ``step``) are those whose backbone parameter count is closest to the S4D's. ``options``:
    extra keyword options per model (``{"transformer": {"n_heads": 4}}``). Returns
    ``{kind: {"d_model", "n_layers", ..., "backbone_params"}}``.
    """
    if d_model < 1 or n_layers < 1 or step < 2 or step % 2:
        raise ConfigError(f"size_matched: need d_model >= 1, n_layers >= 1 and an even step >= 2, got "
                          f"{d_model!r}, {n_layers!r}, {step!r}")
    options = {k: dict(v) for k, v in (options or {}).items()}
    s4d_options = {"d_state": d_state, **options.get("s4d", {})}
    target = _backbone("s4d", d_model, n_layers, s4d_options)
    out = {"s4d": {"d_model": d_model, "n_layers": n_layers, **s4d_options, "backbone_params": target}}
    for kind in ("transformer", "lstm"):
        extra = options.get(kind, {})
        low, high = 1, max(2, 4 * d_model // step)  # widths low*step .. high*step, count grows with width
        while low < high:
            mid = (low + high) // 2
            if _backbone(kind, mid * step, n_layers, extra) < target:
                low = mid + 1
            else:
                high = mid
        candidates = [w for w in (low - 1, low) if w >= 1]
        best = min(candidates, key=lambda w: abs(_backbone(kind, w * step, n_layers, extra) - target))
        out[kind] = {"d_model": best * step, "n_layers": n_layers, **extra,
                     "backbone_params": _backbone(kind, best * step, n_layers, extra)}
    return out
