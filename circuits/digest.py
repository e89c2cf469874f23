"""Content digests: one mechanism for every hash of data in the package.

Encoders compare by value, circuit sets and checkpoints record the identity of the data they
were made from, and downloads are verified: all of them hash with :func:`content_digest` (values)
or :func:`file_sha256` (files), so two copies of the same content always get the same name.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["content_digest", "file_sha256", "canonical_json"]


def canonical_json(obj: Any) -> bytes:
    """``obj`` as JSON with sorted keys and no spaces: the same value always gives the same bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def _update(h: "hashlib._Hash", item: Any) -> None:
    if isinstance(item, torch.Tensor):
        a = item.detach().cpu().contiguous()
        if a.is_conj():
            a = a.resolve_conj()
        h.update(repr(("tensor", str(a.dtype), tuple(a.shape))).encode())
        if a.numel():
            h.update(a.view(torch.uint8).numpy().tobytes() if a.dtype == torch.bfloat16 else a.numpy().tobytes())
    elif isinstance(item, np.ndarray):
        h.update(repr(("array", str(item.dtype), item.shape)).encode())
        h.update(np.ascontiguousarray(item).tobytes())
    elif isinstance(item, (bytes, bytearray, memoryview)):
        h.update(b"bytes:")
        h.update(bytes(item))
    elif isinstance(item, (list, tuple)):
        h.update(f"{type(item).__name__}[{len(item)}]:".encode())
        for x in item:
            _update(h, x)
    elif isinstance(item, dict):
        h.update(f"dict[{len(item)}]:".encode())
        for k in sorted(item, key=repr):
            _update(h, k)
            _update(h, item[k])
    else:
        h.update(repr(item).encode())
    h.update(b"|")


def content_digest(*items: Any, length: int | None = None) -> str:
    """SHA-256 hex digest of tensors, arrays, bytes, nested lists/tuples/dicts and plain values.

    Tensors and arrays hash their dtype, shape and bytes (so ``float32`` and ``float64`` copies of
    the same numbers differ); ``length`` truncates the hex string for short labels.
    """
    h = hashlib.sha256()
    for item in items:
        _update(h, item)
    out = h.hexdigest()
    return out[:length] if length else out


def file_sha256(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes, read in chunks (constant memory)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
