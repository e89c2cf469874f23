"""Tests of qcstar.data.layout: one writer and one reader per item file kind."""

from __future__ import annotations

import pytest
import torch

from qcstar.circuits.errors import DataError
from qcstar.data import layout


def test_item_texts_round_trip_exactly():
    x = 0.1 + 0.2  # repr keeps every bit
    assert layout.parse_overlap(layout.overlap_text(x), "f") == x
    assert layout.parse_label(layout.label_text(7), "l") == 7
    t = torch.tensor([0.6 + 0.0j, 0.0 - 0.8j], dtype=torch.complex128)
    assert torch.equal(layout.parse_state(layout.state_text(t), "s", 2), t)
    real = torch.tensor([0.6, 0.8], dtype=torch.float64)
    assert layout.state_text(real) == "0.6 0.0\n0.8 0.0\n"


@pytest.mark.parametrize(
    "parse, text, match",
    [
        (layout.parse_overlap, "abc", "expected one number"),
        (layout.parse_overlap, "inf", "not a number in \\[-1, 1\\]"),
        (layout.parse_overlap, "1.5", "not a number in \\[-1, 1\\]"),
        (layout.parse_label, "3.0", "expected an integer label"),
        (lambda t, w: layout.parse_state(t, w, 2), "1 0\n", "1 amplitudes, expected 2"),
        (lambda t, w: layout.parse_state(t, w, None), "1 0\n0 0\n0 0\n", "expected a power of two"),
        (lambda t, w: layout.parse_state(t, w, 2), "nan 0\n0 0\n", "NaN or infinity"),
    ],
)
def test_bad_item_texts(parse, text, match):
    with pytest.raises(DataError, match=match):
        parse(text, "where")


def test_mnisq_rounding_just_past_one_is_accepted():
    assert layout.parse_overlap("1.000001", "f") == 1.000001


def test_level_pattern_matches_mnisq_names():
    assert layout.LEVEL_RE.search("base_test_mnist_784_F95").group(1).lower() == "f95"
    assert layout.LEVEL_RE.search("test_mnist_784_f950") is None
