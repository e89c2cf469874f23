"""Data sets: image sets (MNIST family, sklearn digits) and circuit data sets in the MNISQ layout.

Modules by concept: :mod:`~qcstar.data.catalogue` (names, files, checksums, validation),
:mod:`~qcstar.data.idx` (the IDX reader), :mod:`~qcstar.data.storage` (where files live, how
they are verified and fetched), :mod:`~qcstar.data.images` (loading and preprocessing),
:mod:`~qcstar.data.splits` (train/val/test splits), and for circuit data sets
:mod:`~qcstar.data.layout` (the files and their formats), :mod:`~qcstar.data.build` and
:mod:`~qcstar.data.read`.
"""

from __future__ import annotations

from .catalogue import DATASETS, DataConfigError
from .storage import data_dir, download, verify_file
from .idx import read_idx
from .images import load_images, prepare
from .splits import ImageSplits, load_split, make_splits

__all__ = [
    "DATASETS",
    "DataConfigError",
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

# circuit data sets in the MNISQ layout
from .circuitsets import CircuitDataset, build_dataset, dataset_info, load_dataset  # noqa: E402

__all__ += ["CircuitDataset", "build_dataset", "dataset_info", "load_dataset"]
