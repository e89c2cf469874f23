"""Gauge augmentation of ``gate``-token circuits: equivalent circuits, drawn fresh every batch.

A circuit of two-qubit blocks has a gauge freedom: between two consecutive blocks that share a
wire ``w``, ``R R^T = I`` may be inserted for any real orthogonal 2 x 2 ``R`` on ``w``, so the
earlier block becomes ``(R on w) . U_i`` and the later one ``U_j . (R^T on w)`` and the state the
circuit prepares does not change, to the last phase. Blocks on disjoint wires commute, so
neighbours with no wire in common may also swap places. An AQCE circuit of M blocks has up to
~2M such insertions; every draw is another circuit for the same image. MNISQ (Placidi et al.,
arXiv:2306.16627, README "Sequence models") reports 77 % -> 81 % for its S4 with augmentation;
its augmentation is not published, this is ours.

:class:`GaugeAugment` acts on :class:`~qcstar.circuits.tokens.TokenSequences` of the ``gate``
tokenizer (ids plus each block's matrix entries as features), vectorised over the batch, and
only in training mode: a sequence classifier built with ``augment=`` applies it to its input
before the embedding. Real rotations keep real (AQCE) blocks real. Other ops (``x`` and
parametric gates) are left alone and break the gauge chain on their wires.

Example::

    tok = make_tokenizer("gate", n_qubits=10)
    model = make_model("s4d", vocab_size=tok.vocab_size, n_features=tok.n_features, n_classes=10,
                       augment=GaugeAugment(gauge_table(tok)))
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn

from qcstar.circuits.errors import ConfigError, ShapeError
from qcstar.circuits.statevector import kron_chain
from qcstar.circuits.tokens import N_MATRIX, N_PARAMS, TokenSequences, Tokenizer

Tensor = torch.Tensor

__all__ = ["GaugeAugment", "gauge_table"]

_BLOCK = re.compile(r"^unitary@(\d+),(\d+)$")


def gauge_table(tokenizer: Tokenizer) -> Tensor:
    """``(vocab_size, 2)`` int64: the two wires of each two-qubit ``unitary`` token, ``-1`` for
    every other token. Raises :class:`ConfigError` for a tokenizer without such tokens."""
    if getattr(tokenizer, "kind", None) != "gate":
        raise ConfigError(f"gauge augmentation reads gate tokens (matrices as features), not "
                          f"{getattr(tokenizer, 'kind', type(tokenizer).__name__)!r} tokens")
    table = torch.full((tokenizer.vocab_size, 2), -1, dtype=torch.int64)
    for i, symbol in enumerate(tokenizer.symbols):
        m = _BLOCK.match(symbol)
        if m:
            table[i] = torch.tensor([int(m.group(1)), int(m.group(2))])
    if not bool((table[:, 0] >= 0).any()):
        raise ConfigError("gauge augmentation: the tokenizer has no two-qubit 'unitary' tokens")
    return table


class GaugeAugment(nn.Module):
    """Random gauge rotations between consecutive two-qubit blocks, plus commuting swaps.

    ``table``: :func:`gauge_table` of the tokenizer. ``angle``: rotations ``R(theta)`` with
    ``theta`` uniform in ``[-angle, angle]`` (``pi``: the whole circle), each times
    ``diag(1, -1)`` with probability ``reflect``. ``p``: the share of sequences augmented.
    ``swaps``: rounds of odd-even swaps of neighbouring ops with disjoint wires (each pair swaps
    with probability 1/2). The identity in eval mode. The block's matrix index is
    ``bit(wires[0]) + 2 * bit(wires[1])`` (the first wire is the low bit, as in Qiskit), as in
    :meth:`qcstar.circuits.ir.Circuit.unitary`.
    """

    def __init__(self, table: Tensor, *, angle: float = math.pi, reflect: float = 0.5, p: float = 1.0,
                 swaps: int = 2):
        super().__init__()
        table = torch.as_tensor(table, dtype=torch.int64)
        if table.dim() != 2 or table.shape[1] != 2:
            raise ConfigError(f"GaugeAugment: table must be (vocab_size, 2) wires, got {tuple(table.shape)}")
        if not (0.0 <= angle <= math.pi and 0.0 <= reflect <= 1.0 and 0.0 <= p <= 1.0):
            raise ConfigError(f"GaugeAugment: need 0 <= angle <= pi and reflect, p in [0, 1], got "
                              f"{angle!r}, {reflect!r}, {p!r}")
        if not isinstance(swaps, int) or swaps < 0:
            raise ConfigError(f"GaugeAugment: swaps must be an int >= 0, got {swaps!r}")
        self.register_buffer("table", table)
        self.angle, self.reflect, self.p, self.swaps = float(angle), float(reflect), float(p), swaps
        self.n_wires = int(table.max()) + 1

    def extra_repr(self) -> str:
        return f"angle={self.angle:.3g}, reflect={self.reflect:g}, p={self.p:g}, swaps={self.swaps}"

    def forward(self, x: TokenSequences) -> TokenSequences:
        if not self.training:
            return x
        if x.features is None or x.features.shape[-1] < N_PARAMS + N_MATRIX:
            raise ShapeError("GaugeAugment reads gate tokens with their matrix features (the gate tokenizer)")
        if int(x.ids.max()) >= self.table.shape[0]:
            raise ShapeError(f"GaugeAugment: token id {int(x.ids.max())} beyond its table of {self.table.shape[0]}")
        x = self._rotate(x)
        for _ in range(self.swaps):
            x = self._swap(x)
        return x

    def _wires(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        """Each position's two wires (N, L, 2) (-1: not a block) and its touched wires (N, L, Q).
        Padding and non-block ops touch every wire: nothing passes or swaps across them."""
        wires = self.table[ids]                                                       # (N, L, 2)
        block = wires[..., 0] >= 0
        touch = torch.zeros(*ids.shape, self.n_wires, dtype=torch.bool, device=ids.device)
        touch.scatter_(-1, wires.clamp_min(0), True)
        touch |= ~block[..., None]
        return wires, touch

    def _rotate(self, x: TokenSequences) -> TokenSequences:
        n, length = x.ids.shape
        dev = x.ids.device
        wires, touch = self._wires(x.ids)
        block = (wires[..., 0] >= 0) & x.mask
        # next[n, i, w]: the first position after i that touches wire w (L: none), by a backward scan
        nxt = torch.full((n, length + 1, self.n_wires), length, dtype=torch.int64, device=dev)
        for i in range(length - 1, -1, -1):
            nxt[:, i] = torch.where(touch[:, i + 1] if i + 1 < length else torch.zeros_like(touch[:, 0]),
                                    i + 1, nxt[:, i + 1])
        w = wires.clamp_min(0)                                                        # (N, L, 2)
        j = nxt[:, :length].gather(2, w)                                              # (N, L, 2) next op on each slot's wire
        j_safe = j.clamp_max(length - 1)
        rows = torch.arange(n, device=dev)[:, None, None]
        # a link: this block and the next op on the wire are both blocks (padding and other ops break it)
        link = block[..., None] & (j < length) & block[rows, j_safe]
        link &= (torch.rand(n, device=dev) < self.p)[:, None, None]
        theta = (torch.rand(n, length, 2, device=dev) * 2 - 1) * self.angle
        c, s = torch.cos(theta), torch.sin(theta)
        rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)    # (N, L, 2, 2, 2)
        flip = torch.rand(n, length, 2, device=dev) < self.reflect
        rot[..., :, 1] = torch.where(flip[..., None], -rot[..., :, 1], rot[..., :, 1])
        eye = torch.eye(2, device=dev).expand(n, length, 2, 2, 2)
        rot = torch.where(link[..., None, None], rot, eye)
        # the later block's slot on the same wire receives R^T
        slot = (wires[rows, j_safe] == w[..., None]).to(torch.int64).argmax(-1)       # (N, L, 2)
        right = eye.clone()
        idx = link.nonzero(as_tuple=True)
        right[idx[0], j[idx], slot[idx]] = rot[idx].transpose(-1, -2)
        # the block's matrix index is bit(wires[0]) + 2 * bit(wires[1]): the second wire is the high bit
        left = kron_chain([rot[..., 1, :, :], rot[..., 0, :, :]])                     # (N, L, 4, 4)
        right = kron_chain([right[..., 1, :, :], right[..., 0, :, :]])
        feats = x.features.clone()
        m = torch.view_as_complex(feats[..., N_PARAMS:N_PARAMS + N_MATRIX].reshape(n, length, 16, 2).contiguous())
        m = m.reshape(n, length, 4, 4)
        m = left.to(m.dtype) @ m @ right.to(m.dtype)
        new = torch.view_as_real(m.reshape(n, length, 16)).reshape(n, length, N_MATRIX)
        feats[..., N_PARAMS:N_PARAMS + N_MATRIX] = torch.where(block[..., None], new, feats[..., N_PARAMS:N_PARAMS + N_MATRIX])
        return TokenSequences(x.ids, x.lengths, feats)

    def _swap(self, x: TokenSequences) -> TokenSequences:
        n, length = x.ids.shape
        if length < 2:
            return x
        dev = x.ids.device
        _, touch = self._wires(x.ids)
        touch |= ~x.mask[..., None]
        start = int(torch.randint(2, (1,), device="cpu"))
        a = torch.arange(start, length - 1, 2, device=dev)                            # left members of the pairs
        disjoint = ~(touch[:, a] & touch[:, a + 1]).any(-1)                           # (N, P)
        do = disjoint & (torch.rand(n, a.numel(), device=dev) < 0.5)
        perm = torch.arange(length, device=dev).expand(n, length).clone()
        perm[:, a] = torch.where(do, a + 1, a)
        perm[:, a + 1] = torch.where(do, a, a + 1)
        ids = x.ids.gather(1, perm)
        feats = x.features.gather(1, perm[..., None].expand_as(x.features))
        return TokenSequences(ids, x.lengths, feats)

