"""Seeded, stratified train/val/test splits of the image data sets.

:func:`make_splits` draws index splits of any pool; :func:`load_split` loads a data set and
returns its splits ready for training, with the protocol (official split or a seeded pool)
recorded in :class:`ImageSplits`.
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping

import torch

from qcstar.circuits.errors import DataError, ShapeError

from .catalogue import KMNIST_POOL_NOTE, MAX_VALUE, DataConfigError, canonical_source
from .images import load_images, prepare

__all__ = ["ImageSplits", "PoolTooSmallError", "load_split", "make_splits"]


class PoolTooSmallError(DataError):
    """The sizes asked for do not fit in the pool; ``pool`` is its size."""

    def __init__(self, message: str, pool: int):
        super().__init__(message)
        self.pool = pool


def _allocate(total: int, counts: list[int]) -> list[int]:
    """Split ``total`` over groups proportionally to ``counts`` (largest remainder, capped)."""
    n = sum(counts)
    if total > n:
        raise DataError(f"cannot draw {total} items from a pool of {n}")
    if n == 0:
        return [0] * len(counts)
    quotas = [total * c / n for c in counts]
    alloc = [min(c, math.floor(q)) for q, c in zip(quotas, counts)]
    order = sorted(range(len(counts)), key=lambda i: (-(quotas[i] - math.floor(quotas[i])), i))
    missing = total - sum(alloc)
    while missing > 0:  # terminates: total <= n, so some group always has room
        for i in order:
            if missing and alloc[i] < counts[i]:
                alloc[i] += 1
                missing -= 1
    return alloc


def _split_indices(
    n: int,
    *,
    n_test: int,
    n_val: int,
    n_train: int | None,
    per_class: int | None,
    labels: torch.Tensor | None,
    seed: int,
) -> dict[str, torch.Tensor]:
    """Core of the splitting: test first, then val, then train from what is left.

    Drawing in that order keeps the test and validation indices independent of ``n_train`` /
    ``per_class``, so a small-data sweep is evaluated on identical held-out sets, and smaller
    training sets are nested in larger ones (same seed).
    """
    rest = n - n_test - n_val
    if rest < 0:
        raise PoolTooSmallError(f"cannot draw {n_test} test + {n_val} val items from a pool of {n:,}", n)
    if n_train is not None and n_train > rest:
        raise PoolTooSmallError(f"cannot draw {n_train} training items: only {rest} of the pool's {n:,} remain after "
                                f"{n_test} test and {n_val} val", n)
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=gen)
    if labels is None:
        if per_class is not None:
            raise DataConfigError("per_class needs labels: pass labels=... to make_splits")
        take = rest if n_train is None else n_train
        parts = {"test": perm[:n_test], "val": perm[n_test:n_test + n_val], "train": perm[n_test + n_val:n_test + n_val + take]}
        return {k: torch.sort(v).values for k, v in parts.items()}

    y = torch.as_tensor(labels)
    if y.ndim != 1 or y.shape[0] != n:
        raise ShapeError(f"labels must have shape ({n},), got {tuple(y.shape)}")
    classes = torch.unique(y).tolist()
    shuffled = y[perm]
    groups = [perm[shuffled == c] for c in classes]  # per class, in seeded random order
    sizes = [len(g) for g in groups]
    t_alloc = _allocate(n_test, sizes)
    left = [s - t for s, t in zip(sizes, t_alloc)]
    v_alloc = _allocate(n_val, left)
    left = [s - v for s, v in zip(left, v_alloc)]
    if per_class is not None:
        short = [(c, l) for c, l in zip(classes, left) if l < per_class]
        if short:
            raise DataError(
                f"per_class={per_class}: class(es) {', '.join(f'{c} ({l} left)' for c, l in short)} "
                f"have too few items after drawing {n_test} test and {n_val} val items; lower per_class, n_val or n_test"
            )
        tr_alloc = [per_class] * len(classes)
    elif n_train is None:
        tr_alloc = left
    else:
        tr_alloc = _allocate(n_train, left)
    parts: dict[str, list[torch.Tensor]] = {"train": [], "val": [], "test": []}
    for g, t, v, r in zip(groups, t_alloc, v_alloc, tr_alloc):
        parts["test"].append(g[:t])
        parts["val"].append(g[t:t + v])
        parts["train"].append(g[t + v:t + v + r])
    return {k: torch.sort(torch.cat(v)).values for k, v in parts.items()}


def make_splits(
    n: int,
    *,
    fractions: tuple[float, float, float] | None = (0.8, 0.1, 0.1),
    per_class: int | None = None,
    labels: torch.Tensor | None = None,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Fixed, seeded train/val/test index splits of a pool of ``n`` items.

    Returns ``{"train", "val", "test"}`` -> sorted ``int64`` index tensors, pairwise disjoint.
    The same ``(n, fractions, per_class, labels, seed)`` always gives the same indices
    (``torch.Generator``).

    * ``fractions=(f_train, f_val, f_test)``: sizes ``round(f * n)`` (their sum may be below
      1 to use a subset; when it is 1, train takes everything left, so nothing is lost to
      rounding). With ``labels`` every split is stratified: each class contributes in
      proportion to its size.
    * ``per_class=k`` (needs ``labels``): the small-data setting, exactly ``k`` training
      items per class. Val and test are drawn first with the sizes from ``fractions`` and do
      not depend on ``k``; ``fractions=None`` gives val and test half each of the pool that
      remains after the ``k``-per-class draw.
    """
    if not isinstance(n, int) or n < 0:
        raise DataConfigError(f"n must be a non-negative int, got {n!r}")
    if per_class is not None and (not isinstance(per_class, int) or per_class < 1):
        raise DataConfigError(f"per_class must be a positive int, got {per_class!r}")
    if fractions is None:
        if per_class is None:
            raise DataConfigError("make_splits needs fractions=(train, val, test) or per_class=k")
        if labels is None:
            raise DataConfigError("per_class needs labels: pass labels=... to make_splits")
        return _per_class_then_rest(n, per_class, labels, seed)
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) > 1 + 1e-9:
        raise DataConfigError(f"fractions must be three non-negative numbers summing to at most 1, got {fractions!r}")
    f_train, f_val, f_test = (float(f) for f in fractions)
    n_val, n_test = round(f_val * n), round(f_test * n)
    n_train = None if abs(f_train + f_val + f_test - 1.0) < 1e-9 else min(round(f_train * n), n - n_val - n_test)
    return _split_indices(n, n_test=n_test, n_val=n_val, n_train=n_train, per_class=per_class, labels=labels, seed=seed)


def _per_class_then_rest(n: int, per_class: int, labels: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    """``fractions=None``: ``per_class`` training items per class, the rest halved into val/test."""
    y = torch.as_tensor(labels)
    if y.ndim != 1 or y.shape[0] != n:
        raise ShapeError(f"labels must have shape ({n},), got {tuple(y.shape)}")
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=gen)
    classes = torch.unique(y).tolist()
    shuffled = y[perm]
    groups = [perm[shuffled == c] for c in classes]
    short = [(c, len(g)) for c, g in zip(classes, groups) if len(g) < per_class]
    if short:
        raise DataError(f"per_class={per_class}: class(es) {', '.join(f'{c} ({k} items)' for c, k in short)} are too small")
    left = [len(g) - per_class for g in groups]
    rest = sum(left)
    v_alloc = _allocate(rest // 2, left)
    parts: dict[str, list[torch.Tensor]] = {"train": [], "val": [], "test": []}
    for g, v in zip(groups, v_alloc):
        parts["train"].append(g[:per_class])
        parts["val"].append(g[per_class:per_class + v])
        parts["test"].append(g[per_class + v:])
    return {k: torch.sort(torch.cat(v)).values for k, v in parts.items()}


# ---------------------------------------------------------------------------------------------
# one-call splits for training code
# ---------------------------------------------------------------------------------------------


class ImageSplits(dict):
    """``{"train": (x, y), "val": (x, y), "test": (x, y)}`` plus where the data came from.

    Attributes (report them with experiment results; ``meta`` collects them as plain JSON):

    * ``dataset``: canonical name;
    * ``pooled``: ``True`` when train/val/test were all drawn by seed from ONE pool instead of
      the official train/test split (always for ``kmnist`` and ``digits``);
    * ``protocol``: ``"official"`` (train/val from the official train split, test from the
      official test split), ``"pool:test-split"`` (kmnist) or ``"pool:all"`` (digits);
    * ``note``: a sentence to print next to the numbers (empty for the official protocol);
    * ``indices``: split -> int64 indices into the source split (the pool, or the official
      train split for train/val and the official test split for test);
    * ``size``, ``seed``.
    """

    def __init__(
        self,
        data: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
        *,
        dataset: str,
        pooled: bool,
        protocol: str,
        note: str,
        indices: Mapping[str, torch.Tensor],
        size: int | None,
        seed: int,
    ) -> None:
        super().__init__(data)
        self.dataset = dataset
        self.pooled = pooled
        self.protocol = protocol
        self.note = note
        self.indices = dict(indices)
        self.size = size
        self.seed = seed

    @property
    def meta(self) -> dict[str, Any]:
        """JSON-serialisable provenance: name, protocol, pooled flag, note, sizes, seed."""
        return {
            "dataset": self.dataset,
            "protocol": self.protocol,
            "pooled": self.pooled,
            "note": self.note,
            "size": self.size,
            "seed": self.seed,
            "n": {k: int(v[1].shape[0]) for k, v in self.items()},
        }


def load_split(
    name: str,
    *,
    size: int | None = None,
    n_train: int | None = None,
    per_class: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
) -> ImageSplits:
    """Load a data set and return seeded, stratified train/val/test splits ready for training.

    Returns an :class:`ImageSplits` (a dict ``{"train": (x, y), "val": (x, y), "test": (x, y)}``)
    with ``x`` ``float32`` ``(N, size, size)`` in [0, 1] (area-averaged to ``size``; ``None``
    keeps the native 28 or 8) and ``y`` ``int64``.

    Protocols:

    * ``mnist``, ``fashion-mnist`` (``protocol="official"``): train and val come from the
      official 60,000-image training split (val is a fixed, seeded, stratified slice of
      ``n_val`` images, default 5,000); test is the official 10,000-image test split (all of
      it, or a seeded stratified subset of ``n_test``).
    * ``kmnist`` -- **POOLED, NOT THE OFFICIAL PROTOCOL.** The shared data has no KMNIST
      training images, so the official 10,000-image *test* split is the pool and train/val/test
      are drawn from it by seed (defaults: ``n_test`` 2,000, ``n_val`` 1,000, train the rest).
      This happens even where the training file exists, so results never depend on the
      machine. ``splits.pooled`` is ``True`` and ``splits.note`` says so: print it with the
      results.
    * ``digits`` (``protocol="pool:all"``): the 1,797 images split by seed (defaults
      ``n_test`` 20 %, ``n_val`` 10 %, train the rest).

    ``n_train`` caps the training set (stratified); ``per_class=k`` takes exactly ``k``
    training images per class (small-data setting). Val/test are drawn before train, so they
    do not change with ``n_train`` / ``per_class`` for a given seed.
    """
    name = canonical_source(name)
    if n_train is not None and per_class is not None:
        raise DataConfigError("pass either n_train or per_class, not both")
    for label, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if value is not None and (not isinstance(value, int) or value < 0):
            raise DataConfigError(f"{label} must be a non-negative int, got {value!r}")

    def finish(parts: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]], pooled: bool, protocol: str,
               note: str) -> ImageSplits:
        data = {k: (prepare(x[i], size=size, normalize="unit", max_value=MAX_VALUE[name]), y[i])
                for k, (x, y, i) in parts.items()}
        return ImageSplits(data, dataset=name, pooled=pooled, protocol=protocol, note=note,
                           indices={k: v[2] for k, v in parts.items()}, size=size, seed=seed)

    if name in ("mnist", "fashion-mnist"):
        x_tr, y_tr = load_images(name, "train", data_dir=data_dir, download=download)
        x_te, y_te = load_images(name, "test", data_dir=data_dir, download=download)
        idx = _split_indices(len(y_tr), n_test=0, n_val=5000 if n_val is None else n_val, n_train=n_train,
                             per_class=per_class, labels=y_tr, seed=seed)
        if n_test is None:
            test_idx = torch.arange(len(y_te))
        else:
            test_idx = _split_indices(len(y_te), n_test=n_test, n_val=0, n_train=0, per_class=None,
                                      labels=y_te, seed=seed)["test"]
        parts = {"train": (x_tr, y_tr, idx["train"]), "val": (x_tr, y_tr, idx["val"]),
                 "test": (x_te, y_te, test_idx)}
        return finish(parts, False, "official", "")

    if name == "kmnist":
        x, y = load_images(name, "test", data_dir=data_dir, download=download)
        protocol, note = "pool:test-split", KMNIST_POOL_NOTE
    else:
        x, y = load_images(name, "train")
        protocol = "pool:all"
        note = "digits: train/val/test drawn by seed from the 1,797 images of sklearn.datasets.load_digits()."
    n = len(y)
    idx = _split_indices(n, n_test=round(0.2 * n) if n_test is None else n_test,
                         n_val=round(0.1 * n) if n_val is None else n_val,
                         n_train=n_train, per_class=per_class, labels=y, seed=seed)
    return finish({k: (x, y, idx[k]) for k in ("train", "val", "test")}, True, protocol, note)
