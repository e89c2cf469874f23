"""circuits.entanglers: the one ladder/ring CX entangler."""

from __future__ import annotations

import pytest

from qcstar.circuits import Circuit, ConfigError
from qcstar.circuits.entanglers import ENTANGLERS, append_entangler, entangler_pairs


@pytest.mark.parametrize(
    "n, name, pairs",
    [
        (1, "ladder", []),
        (2, "ring", [(0, 1)]),  # the closing pair would repeat (0, 1) reversed
        (3, "ladder", [(0, 1), (1, 2)]),
        (4, "ring", [(0, 1), (1, 2), (2, 3), (3, 0)]),
        (4, "none", []),
        (4, None, []),
    ],
)
def test_pairs(n, name, pairs):
    assert entangler_pairs(n, name) == pairs


def test_append_and_errors():
    c = append_entangler(Circuit(3).h(0), "ring")
    assert [(op.name, op.wires) for op in c.ops] == [("h", (0,)), ("cx", (0, 1)), ("cx", (1, 2)), ("cx", (2, 0))]
    assert set(ENTANGLERS) == {"ladder", "ring", "none"}
    with pytest.raises(ConfigError, match="entangler must be one of"):
        entangler_pairs(3, "star")
