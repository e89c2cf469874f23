"""Circuit data sets in the MNISQ layout (arXiv:2306.16627): build and read.

The code lives by concept and is re-exported here, the module earlier code imports:
:mod:`qcstar.data.layout` (the files and their formats, including what ``fidelity/`` holds: the
overlap Re<target|circuit>, not its square), :mod:`qcstar.data.build` (:func:`build_dataset`:
sharded, resumable from any kill, optionally on Ray) and :mod:`qcstar.data.read`
(:func:`load_dataset`, :func:`dataset_info`, :func:`format_info` for our folders, original MNISQ
zips and extracted MNISQ folders).

Example::

    from qcstar.data.circuitsets import build_dataset, load_dataset, dataset_info
    out = build_dataset(source="mnist", split="test", level="f90", out="mnisq-mnist-f90", limit=1000)
    ds = load_dataset(out)                  # CircuitDataset: circuits, labels, overlaps, states
    dataset_info(out)["overlap"]["mean"]
    ds = load_dataset("test_mnist_784_f90.zip", limit=100)   # an original MNISQ zip
"""

from __future__ import annotations

from .build import build_dataset
from .catalogue import LEVELS
from .layout import FORMAT, FORMAT_VERSION, KINDS, MAX_FILE_BYTES, MAX_FILE_OPS, MAX_ITEMS, MAX_TOTAL_BYTES, MAX_TOTAL_OPS
from .read import CircuitDataset, CircuitItem, dataset_info, format_info, load_dataset

__all__ = [
    "CircuitDataset",
    "CircuitItem",
    "FORMAT",
    "FORMAT_VERSION",
    "KINDS",
    "LEVELS",
    "MAX_FILE_BYTES",
    "MAX_FILE_OPS",
    "MAX_ITEMS",
    "MAX_TOTAL_BYTES",
    "MAX_TOTAL_OPS",
    "build_dataset",
    "dataset_info",
    "format_info",
    "load_dataset",
]
