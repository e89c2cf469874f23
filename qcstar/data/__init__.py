"""Data sets: image sets (MNIST family, sklearn digits) in :mod:`qcstar.data.images`."""

from __future__ import annotations

from .images import (
    DATASETS,
    ImageSplits,
    data_dir,
    download,
    load_images,
    load_split,
    make_splits,
    prepare,
    read_idx,
    verify_file,
)

__all__ = [
    "DATASETS",
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

# circuit data sets in the MNISQ layout (qcstar.data.circuitsets)
from .circuitsets import CircuitDataset, build_dataset, dataset_info, load_dataset  # noqa: E402

__all__ += ["CircuitDataset", "build_dataset", "dataset_info", "load_dataset"]
