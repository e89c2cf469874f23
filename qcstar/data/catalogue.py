"""What image data sets exist: names, splits, original files with their published checksums,
mirrors, image shapes, and the MNISQ levels a circuit data set can be built at.

One validation each for a data-set name (:func:`canonical_source`), an official split
(:func:`check_split`) and an MNISQ level (:func:`check_level`): the image loaders, the circuit
data-set builder and the ``qcstar dataset`` command all call these.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qcstar.circuits.errors import ConfigError, DataError
from qcstar.encoders.aqce import LEVELS as AQCE_LEVELS

__all__ = [
    "DATASETS",
    "FILES",
    "FileInfo",
    "LEVELS",
    "MIRRORS",
    "MAX_VALUE",
    "SPLITS",
    "DataConfigError",
    "as_path",
    "canonical_source",
    "check_level",
    "check_split",
]

DATASETS = ("mnist", "fashion-mnist", "kmnist", "digits")

#: The official splits of the image data sets (validation splits are drawn by seed).
SPLITS = ("train", "test")

#: MNISQ's levels, the keys of :data:`qcstar.encoders.aqce.LEVELS` (gate budgets, not thresholds).
LEVELS = tuple(AQCE_LEVELS)

#: Other spellings accepted for a data-set name.
_ALIASES = {"fashion": "fashion-mnist", "fashionmnist": "fashion-mnist", "k-mnist": "kmnist"}

#: The original file of each (split, kind) in every IDX data set's folder.
FILENAMES = {
    ("train", "images"): "train-images-idx3-ubyte.gz",
    ("train", "labels"): "train-labels-idx1-ubyte.gz",
    ("test", "images"): "t10k-images-idx3-ubyte.gz",
    ("test", "labels"): "t10k-labels-idx1-ubyte.gz",
}


@dataclass(frozen=True)
class FileInfo:
    """Published facts about one original ``.gz`` file."""

    size: int
    sha256: str


#: Byte size and SHA-256 of every original file (the SHA-256 values are the ones published by
#: torchvision-ruby and agree with torchvision's MD5 values). KMNIST's training images are
#: listed too although the shared copy lacks them, so a file a user downloads is verified like
#: the others.
FILES: dict[str, dict[str, FileInfo]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": FileInfo(9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        "train-labels-idx1-ubyte.gz": FileInfo(28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        "t10k-images-idx3-ubyte.gz": FileInfo(1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        "t10k-labels-idx1-ubyte.gz": FileInfo(4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": FileInfo(26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        "train-labels-idx1-ubyte.gz": FileInfo(29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        "t10k-images-idx3-ubyte.gz": FileInfo(4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        "t10k-labels-idx1-ubyte.gz": FileInfo(5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    },
    "kmnist": {
        "train-images-idx3-ubyte.gz": FileInfo(18165135, "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4"),
        "train-labels-idx1-ubyte.gz": FileInfo(29497, "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17"),
        "t10k-images-idx3-ubyte.gz": FileInfo(3041136, "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5"),
        "t10k-labels-idx1-ubyte.gz": FileInfo(5120, "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c"),
    },
}

#: Official download locations (used only by :func:`qcstar.data.download`).
MIRRORS = {
    "mnist": "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "kmnist": "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
}

#: Largest pixel value per data set: what ``prepare(normalize="unit")`` divides by.
MAX_VALUE = {"mnist": 255, "fashion-mnist": 255, "kmnist": 255, "digits": 16}

#: Number of classes and native image shape of every data set.
N_CLASSES = 10
IMAGE_HW = {"mnist": (28, 28), "fashion-mnist": (28, 28), "kmnist": (28, 28), "digits": (8, 8)}

KMNIST_POOL_NOTE = (
    "KMNIST: the shared copy has no training images, so train/val/test are all drawn by seed "
    "from the official 10,000-image TEST split; the numbers are not comparable to results "
    "trained on the official 60,000-image training split."
)


class DataConfigError(ConfigError, DataError):
    """A wrong configuration value of a data call (unknown source, split or level, a bad limit).

    A :class:`~qcstar.circuits.errors.ConfigError` like every configuration mistake, and a
    :class:`~qcstar.circuits.errors.DataError` as these mistakes were before, so that existing
    ``except DataError`` code keeps catching them.
    """


def _expect_str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise DataConfigError(f"{what} must be a string, got {type(value).__name__} {value!r}")
    return value


def canonical_source(name: str) -> str:
    """The canonical name of an image data set (``"Fashion_MNIST"`` -> ``"fashion-mnist"``).

    Raises :class:`DataConfigError` naming the known data sets for anything else.
    """
    key = _expect_str(name, "the data set name (source)").strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise DataConfigError(
            f"unknown source {name!r} (image data set); expected one of {', '.join(DATASETS)}"
        )
    return key


def check_split(split: str) -> str:
    """``split`` if it names an official split (``"train"`` or ``"test"``), else :class:`DataConfigError`."""
    if _expect_str(split, "split") not in SPLITS:
        raise DataConfigError(
            f"unknown split {split!r}; expected 'train' or 'test' (make_splits draws a validation split)"
        )
    return split


def check_level(level: str) -> str:
    """``level`` if it is one of MNISQ's levels (:data:`LEVELS`), else :class:`DataConfigError`."""
    if _expect_str(level, "level") not in LEVELS:
        raise DataConfigError(
            f"unknown level {level!r}; expected one of {', '.join(LEVELS)} (MNISQ's AQCE gate budgets, "
            "arXiv:2306.16627)"
        )
    return level


def as_path(value: Any, what: str) -> Path:
    """``value`` as a :class:`~pathlib.Path` when it is a non-empty ``str`` or ``os.PathLike``;
    else :class:`DataConfigError` saying what ``what`` (e.g. ``"out (--out)"``) must be."""
    if isinstance(value, bool) or not isinstance(value, (str, os.PathLike)) or str(value) == "":
        raise DataConfigError(f"{what} must be a path (a non-empty str or os.PathLike), got {value!r}")
    return Path(value)
