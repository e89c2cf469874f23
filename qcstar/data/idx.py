"""The IDX file format of MNIST and its siblings (gzip-compressed or raw), read with every check.

Hostile headers cost nothing: a header's claimed payload is compared with what the file can
hold before anything is allocated, and the payload is then read incrementally, so memory grows
only with the bytes that are really there.
"""

from __future__ import annotations

import gzip
import math
import os
import pathlib
import zlib
from typing import Any, BinaryIO

import numpy as np

from qcstar.circuits.errors import DataError
from qcstar.circuits.resources import check_memory

__all__ = ["IMAGES_MAGIC", "LABELS_MAGIC", "read_idx"]

#: Magic numbers of the two IDX file kinds we read: 0x00000803 (uint8, 3 dims) and
#: 0x00000801 (uint8, 1 dim).
IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049

_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_MAGIC_NAMES = {IMAGES_MAGIC: "images, 0x00000803", LABELS_MAGIC: "labels, 0x00000801"}

#: DEFLATE cannot compress better than about 1032:1 (a 258-byte match per 2-bit code), so a
#: gzip file of ``s`` bytes never decompresses to more than this many times ``s``.
_MAX_GZIP_RATIO = 1032

_CHUNK = 1 << 20


def _read_up_to(fh: BinaryIO, n: int) -> bytearray:
    """Read at most ``n`` bytes, growing the buffer chunk by chunk (never allocating ``n`` up front)."""
    buf = bytearray()
    while len(buf) < n:
        chunk = fh.read(min(_CHUNK, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


def _header_error(p: pathlib.Path, magic: int, expected_magic: int | None) -> DataError:
    return DataError(
        f"{p} is not an IDX file: wrong magic number 0x{magic:08x} (expected two zero "
        "bytes, an element type in 0x08/0x09/0x0B/0x0C/0x0D/0x0E and at least one "
        "dimension"
        + (f"; expected {expected_magic} ({_MAGIC_NAMES.get(expected_magic, 'IDX')})" if expected_magic else "")
        + ")"
    )


def read_idx(
    path: str | os.PathLike,
    *,
    expected_magic: int | None = None,
    max_bytes: int = 1 << 31,
) -> np.ndarray:
    """Read one IDX file (gzip-compressed ``.gz`` or raw) into a NumPy array.

    Checks, each failing with a :class:`DataError` that names the file: a valid gzip stream;
    the magic number (first two bytes zero, a known element type, at least one dimension,
    and equal to ``expected_magic`` when given, e.g. 2051 for images, 2049 for labels); the
    big-endian dimensions; and that the decompressed length equals the header plus the
    product of the dimensions times the element size, with no byte missing or left over.

    Before reading the payload, the size the header claims is refused when it is above
    ``max_bytes``, when the file is too small to hold it (a raw file's size, or a gzip file's
    size times DEFLATE's largest ratio), and when it exceeds the memory cap of
    :func:`qcstar.circuits.resources.check_memory`; the payload is then read incrementally.

    Returns an array of the file's shape, in native byte order (uint8 for MNIST files),
    writable and owning its memory.
    """
    p = pathlib.Path(path)
    if not p.is_file():
        raise DataError(f"IDX file {p} does not exist")
    file_size = p.stat().st_size
    with open(p, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
    try:
        fh: Any = gzip.open(p, "rb") if compressed else open(p, "rb")
        with fh:
            head = _read_up_to(fh, 4)
            if len(head) != 4:
                raise DataError(f"{p} is truncated: the 4-byte magic number needs 4 bytes, only {len(head)} are present")
            magic = int.from_bytes(head, "big")
            zero, dtype_code, ndim = int.from_bytes(head[:2], "big"), head[2], head[3]
            if zero != 0 or dtype_code not in _IDX_DTYPES or ndim == 0:
                raise _header_error(p, magic, expected_magic)
            if expected_magic is not None and magic != expected_magic:
                raise DataError(
                    f"{p} has magic number {magic} (0x{magic:08x}: element type 0x{dtype_code:02x}, "
                    f"{ndim} dims), expected {expected_magic} ({_MAGIC_NAMES.get(expected_magic, 'IDX')}); "
                    "is this the right file (images vs labels)?"
                )
            dims_raw = _read_up_to(fh, 4 * ndim)
            if len(dims_raw) != 4 * ndim:
                raise DataError(f"{p} is truncated: the header's {ndim} big-endian dimensions need {4 * ndim} "
                                f"bytes, only {len(dims_raw)} are present")
            dims = tuple(int(d) for d in np.frombuffer(bytes(dims_raw), dtype=">u4"))
            dtype = _IDX_DTYPES[dtype_code]
            n_data = math.prod(dims) * dtype.itemsize
            header = 4 + 4 * ndim
            if n_data > max_bytes:
                raise DataError(
                    f"{p}: header dims {dims} claim {n_data} data bytes, more than max_bytes="
                    f"{max_bytes}; the header is corrupt (or raise max_bytes)"
                )
            # what the file can hold at most: refuse a lying header before reading or allocating
            capacity = file_size * _MAX_GZIP_RATIO if compressed else file_size - header
            if n_data > capacity:
                raise DataError(
                    f"{p} is truncated: the header (dims {dims}) promises {header + n_data} bytes "
                    f"decompressed, but a {'gzip ' if compressed else ''}file of {file_size} bytes "
                    f"holds at most {header + max(capacity, 0)}"
                )
            # big-endian payloads are converted to native order: a second copy at the end
            check_memory(n_data, f"the IDX payload of {p} (dims {dims})", factor=2 if dtype.byteorder == ">" else 1)
            buf = _read_up_to(fh, n_data)
            if len(buf) != n_data:
                raise DataError(
                    f"{p} is truncated: the header (dims {dims}) promises {header + n_data} bytes "
                    f"decompressed, but only {header + len(buf)} are present"
                )
            extra = fh.read(1 << 16)
            if extra:
                more = len(extra)
                while chunk := fh.read(1 << 16):
                    more += len(chunk)
                raise DataError(
                    f"{p} has wrong dims: the header (dims {dims}) promises {header + n_data} bytes "
                    f"decompressed, but the file has {header + n_data + more}"
                )
    except DataError:
        raise
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        # gzip signals a cut-off stream with EOFError and a damaged one with zlib/OSError.
        raise DataError(f"{p} is not a complete, valid gzip file ({type(exc).__name__}: {exc}); "
                        "it is probably truncated or corrupt") from exc
    arr = np.frombuffer(buf, dtype=dtype).reshape(dims)
    if dtype.byteorder == ">":
        arr = arr.astype(dtype.newbyteorder("="))
    return arr
