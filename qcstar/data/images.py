"""Image data sets: MNIST, Fashion-MNIST, Kuzushiji-MNIST (raw IDX files) and sklearn's digits.

This module loads one official split (:func:`load_images`) and turns integer images into float
tensors (:func:`prepare`). The rest of the image-data API lives by concept and is re-exported
here for code written against the old single module:

* :mod:`qcstar.data.catalogue`: names, splits, original files and their checksums, mirrors;
* :mod:`qcstar.data.idx`: the IDX reader :func:`read_idx`;
* :mod:`qcstar.data.storage`: :func:`data_dir`, :func:`verify_file`, :func:`download`;
* :mod:`qcstar.data.splits`: :func:`make_splits`, :func:`load_split`, :class:`ImageSplits`.

KMNIST caveat
    The shared copy of KMNIST has **no training images** (only the training labels and the
    complete 10,000-image test split). ``load_images("kmnist", "train")`` therefore raises a
    :class:`~qcstar.circuits.errors.DataError` unless the file was downloaded, and
    :func:`~qcstar.data.splits.load_split` for KMNIST always splits the official *test* split
    into train/val/test by seed (``ImageSplits.pooled`` is ``True``), so that results do not
    depend on which files a machine happens to have. Report it with ``splits.meta``.

Digits
    ``"digits"`` is ``sklearn.datasets.load_digits()``: 1,797 images of 8x8 pixels with
    values 0..16, shipped inside scikit-learn (always available, the built-in default). It has
    no official test split; use :func:`~qcstar.data.splits.make_splits` or
    :func:`~qcstar.data.splits.load_split`.
"""

from __future__ import annotations

import functools
import importlib
import os
import pathlib
from typing import Any

import numpy as np
import torch

from qcstar.circuits.errors import ConfigError, DataError, ShapeError

# names of the old single module that now live by concept are re-exported for its importers
from .catalogue import (  # noqa: F401
    DATASETS,
    FILENAMES,
    FILES,
    IMAGE_HW,
    KMNIST_POOL_NOTE,
    MAX_VALUE,
    MIRRORS,
    N_CLASSES,
    FileInfo,
    canonical_source,
    check_split,
)
from .storage import (  # noqa: F401
    ENV_VAR, check_known_file, data_dir, download, fetch, file_ok, resolve_root, verify_file,
)
from .idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx  # noqa: F401

__all__ = [
    "DATASETS",
    "FILES",
    "MIRRORS",
    "ImageSplits",
    "data_dir",
    "download",
    "load_images",
    "load_split",
    "make_splits",
    "prepare",
    "read_idx",
    "verify_file",
]

#: Names served lazily from :mod:`qcstar.data.splits` (which imports this module).
_FROM_SPLITS = ("ImageSplits", "load_split", "make_splits")


def __getattr__(name: str) -> Any:
    if name in _FROM_SPLITS:
        return getattr(importlib.import_module("qcstar.data.splits"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # imported here: sklearn is slow to import

    bunch = load_digits()
    images = np.asarray(bunch.images).astype(np.uint8)  # values are integers 0..16
    labels = np.asarray(bunch.target).astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _missing_message(name: str, filename: str, root: pathlib.Path) -> str:
    msg = (
        f"{name}: file {filename} is missing; looked in {root / name} (data root {root}). "
        f"Fix: point the data root at a folder holding {name}/{filename} via the environment "
        f"variable {ENV_VAR} or --data-dir (data_dir=...), or fetch the files from {MIRRORS[name]} "
        f"with SHA-256 verification: download=True in Python, or once from the shell: "
        f"python -c \"import qcstar.data as d; d.download('{name}')\""
    )
    if (root / filename).is_file():  # the data root given is the data set's own folder
        msg += (f" Note: {root} itself holds {filename}: the data root is the folder ABOVE it, "
                f"--data-dir {root.parent} (it holds {name}/ and the other data sets' folders).")
    if name == "kmnist" and filename.startswith("train-images"):
        msg = (
            "kmnist: the training images (train-images-idx3-ubyte.gz) are not available: the "
            f"shared copy has no KMNIST training images (looked in {root / name}). Use "
            "split='test' (10,000 images) as the pool and split it with make_splits, or call "
            "load_split('kmnist', ...), which does exactly that; or pass download=True to fetch "
            f"the 18 MB file from {MIRRORS[name]} with SHA-256 verification."
        )
    return msg


def _idx_paths(name: str, split: str, root: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    folder = root / name
    return folder / FILENAMES[(split, "images")], folder / FILENAMES[(split, "labels")]


def load_images(
    name: str,
    split: str = "train",
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    verify: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load one official split of an image data set.

    Returns ``(images, labels)``: images ``uint8`` of shape ``(N, H, W)`` (28x28 for the
    MNIST family; 8x8 with values 0..16 for ``"digits"``), labels ``int64`` ``(N,)`` in 0..9.

    * ``"digits"``: scikit-learn's ``load_digits()``; ``split="train"`` is all 1,797 images;
      there is no official test split, so ``split="test"`` raises :class:`DataError`.
    * ``"kmnist"``, ``split="train"``: the shared copy has no training images, so this raises
      :class:`DataError` (unless the file was downloaded); use ``split="test"`` as the pool.
    * ``verify=True`` checks each file's byte size and SHA-256 (cached per process).
    * ``download=True`` fetches missing or corrupt files from the official mirror (verified).
    """
    name = canonical_source(name)
    split = check_split(split)
    if name == "digits":
        if split == "test":
            raise DataError(
                "digits (sklearn.datasets.load_digits) has no official test split: split='train' "
                "(--split train on the command line) returns all 1,797 images; draw train/val/test "
                "with make_splits(...) or use load_split('digits', ...)"
            )
        images, labels = _digits_arrays()
        return torch.tensor(images), torch.tensor(labels)

    root = resolve_root(data_dir)
    img_path, lbl_path = _idx_paths(name, split, root)
    if download:
        try:
            for path in (img_path, lbl_path):
                if not file_ok(path, FILES[name][path.name], verify=True):
                    fetch(name, path.name, path.parent)
        except OSError as exc:
            raise DataError(f"{name}: could not download into {root / name}: {exc}") from exc
    for path in (img_path, lbl_path):
        if not path.is_file():
            raise DataError(_missing_message(name, path.name, root))
        if verify:
            check_known_file(path, FILES[name][path.name])

    images = read_idx(img_path, expected_magic=IMAGES_MAGIC)
    labels = read_idx(lbl_path, expected_magic=LABELS_MAGIC)
    hw = IMAGE_HW[name]
    if images.shape[1:] != hw:
        raise DataError(f"{img_path} has wrong dims: image shape {images.shape[1:]}, expected {hw} for {name}")
    if labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{name} {split}: {images.shape[0]} images ({img_path.name}) but {labels.shape[0]} "
            f"labels ({lbl_path.name}); the two files do not belong together"
        )
    if labels.size and int(labels.max()) >= N_CLASSES:
        raise DataError(f"{lbl_path} holds label {int(labels.max())}, expected labels 0..{N_CLASSES - 1}")
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))



def prepare(
    images: torch.Tensor,
    *,
    size: int | None = None,
    normalize: str = "unit",
    max_value: float | None = None,
) -> torch.Tensor:
    """Turn integer images ``(N, H, W)`` into ``float32`` ``(N, size, size)``.

    ``size``: resize by area averaging (``adaptive_avg_pool2d``; every output pixel is the
    mean of the input pixels it covers), ``None`` keeps ``H x W``.

    ``normalize``:
      * ``"unit"`` -> ``[0, 1]``, dividing by the data set's largest value ``max_value``
        (255 for the MNIST family, 16 for digits). When ``max_value`` is ``None`` it is
        inferred: 16 for integer images whose maximum is at most 16 (digits), 255 for other
        integer images, 1 for float images already in [0, 1]. Pass it to be explicit.
      * ``"standard"`` -> zero mean, unit standard deviation over the whole batch.
      * ``"none"`` -> the raw values as float32.
    """
    x = torch.as_tensor(images)
    if x.ndim != 3:
        raise ShapeError(f"prepare expects images of shape (N, H, W), got shape {tuple(x.shape)}; "
                         "add a batch dimension with images.unsqueeze(0) for a single image")
    if normalize not in ("unit", "standard", "none"):
        raise ConfigError(f"unknown normalize={normalize!r}; expected 'unit', 'standard' or 'none'")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ConfigError(f"size must be a positive int or None, got {size!r}")
    if max_value is None and normalize == "unit":
        peak = float(x.max()) if x.numel() else 0.0
        if x.is_floating_point():
            max_value = 1.0 if peak <= 1.0 else (16.0 if peak <= 16.0 else 255.0)
        else:
            max_value = 16.0 if peak <= 16 else 255.0
    out = x.to(torch.float32)
    if normalize == "unit":
        out = out / float(max_value)
    if size is not None:
        from qcstar.encoders.base import resize_area  # the package's one resizing rule

        out = resize_area(out, size, name="prepare")
    if normalize == "standard":
        std = out.std()
        out = (out - out.mean()) / torch.clamp(std, min=1e-12)
    return out.contiguous()
