"""Token splits for :func:`qcstar.train.fit` from circuit data sets (MNISQ layout).

Reads folders written by ``qcstar dataset build`` and original MNISQ zip files with
:func:`qcstar.data.read.load_dataset`, tokenizes the circuits and returns
``{"train": (TokenSequences, labels), "val": ..., "test": ...}``; :func:`qcstar.train.fit`
then draws length-bucketed batches from it.

Example::

    from qcstar.circuits.tokens import make_tokenizer
    splits = load_token_splits("mnist-f80-train-10000", test_data="mnist-f80-test-1000",
                               tokenizer=make_tokenizer("gate"))
"""

from __future__ import annotations

import os
from typing import Any

import torch

from qcstar.circuits.errors import ConfigError, DataError
from qcstar.circuits.tokens import Tokenizer, TokenSequences

Tensor = torch.Tensor

__all__ = ["TokenSplits", "load_token_splits", "split_indices", "length_summary"]


class TokenSplits(dict):
    """``{"train": (x, y), "val": (x, y), "test": (x, y)}`` plus ``meta`` (paths, counts, lengths)."""

    meta: dict[str, Any]


def split_indices(n: int, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """A seeded split of ``range(n)`` into (kept, held out ``round(fraction * n)``), each sorted."""
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"the held-out fraction must be in [0, 1), got {fraction!r}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed) + 104729))
    held = int(round(fraction * n))
    return order[held:].sort().values, order[:held].sort().values


def length_summary(x: TokenSequences) -> dict[str, float]:
    """Mean, min and max sequence length."""
    lengths = x.lengths.double()
    return {"mean": float(lengths.mean()), "min": int(lengths.min()), "max": int(lengths.max())}


def _load(path: str | os.PathLike, limit: int | None):
    from qcstar.data.read import load_dataset

    ds = load_dataset(path, limit=limit)
    if len(ds) == 0:
        raise DataError(f"{path} holds no circuits (is its build still in its first shard?)")
    return ds


def load_token_splits(data: str | os.PathLike, *, tokenizer: Tokenizer, test_data: str | os.PathLike | None = None,
                      limit: int | None = None, test_limit: int | None = None, val_fraction: float = 0.1,
                      test_fraction: float = 0.2, seed: int = 0, truncate: bool = False) -> TokenSplits:
    """Tokenized splits of a circuit data set (folder or MNISQ zip).

    ``val_fraction`` of ``data`` (seeded) is the validation split. ``test_data``: the test set;
    without it ``test_fraction`` of ``data`` is held out as the test split instead. ``limit`` /
    ``test_limit`` read only the first items. ``truncate``: cut sequences longer than the
    tokenizer's ``max_len`` instead of refusing them.
    """
    ds = _load(data, limit)
    x_all = tokenizer.encode_batch(ds.circuits, truncate=truncate)
    y_all = ds.labels
    meta: dict[str, Any] = {"data": str(data), "tokenizer": tokenizer.to_json() | {"symbols": tokenizer.vocab_size}}
    if test_data is not None:
        test = _load(test_data, test_limit)
        x_test, y_test = tokenizer.encode_batch(test.circuits, truncate=truncate), test.labels
        meta["test_data"] = str(test_data)
        rest = torch.arange(len(ds))
    else:
        rest, held = split_indices(len(ds), test_fraction, seed)
        x_test, y_test = x_all[held], y_all[held]
        meta["test_data"] = f"{test_fraction:g} of {data} (seed {seed})"
    keep, val = split_indices(rest.numel(), val_fraction, seed)
    splits = TokenSplits(train=(x_all[rest[keep]], y_all[rest[keep]]))
    if val.numel():
        splits["val"] = (x_all[rest[val]], y_all[rest[val]])
    if len(x_test):
        splits["test"] = (x_test, y_test)
    meta["counts"] = {name: len(part[0]) for name, part in splits.items()}
    meta["lengths"] = {name: length_summary(part[0]) for name, part in splits.items()}
    meta["n_classes"] = int(max(int(part[1].max()) for part in splits.values())) + 1
    splits.meta = meta
    return splits
