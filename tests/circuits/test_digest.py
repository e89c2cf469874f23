"""circuits.digest: one content digest for tensors, arrays, bytes and nested values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qcstar.circuits.digest import canonical_json, content_digest, file_sha256


def test_equal_content_gives_equal_digests_and_any_change_differs():
    a = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    assert content_digest(a) == content_digest(a.clone())
    b = a.clone()
    b[1, 2] += 1e-6
    assert content_digest(a) != content_digest(b)
    assert content_digest(a) != content_digest(a.reshape(3, 2))  # shape counts
    assert content_digest(a) != content_digest(a.double())  # dtype counts


def test_arrays_dicts_and_order():
    assert content_digest({"a": 1, "b": 2}) == content_digest({"b": 2, "a": 1})
    assert content_digest([1, 2]) != content_digest([2, 1])
    assert content_digest(np.ones(3)) == content_digest(np.ones(3))
    assert content_digest(b"x") != content_digest("x")


def test_length_truncates_and_conjugate_views_hash_their_values():
    z = torch.tensor([1 + 2j, 3 - 1j])
    assert len(content_digest(z, length=12)) == 12
    assert content_digest(z.conj()) == content_digest(z.conj().resolve_conj())
    assert content_digest(z.conj()) != content_digest(z)


def test_canonical_json_is_sorted_and_refuses_nan():
    assert canonical_json({"b": 1, "a": [1, 2]}) == b'{"a":[1,2],"b":1}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_file_sha256_matches_hashlib(tmp_path):
    import hashlib

    p = tmp_path / "f.bin"
    data = bytes(range(256)) * 5000
    p.write_bytes(data)
    assert file_sha256(p, chunk=1000) == hashlib.sha256(data).hexdigest()
