"""The README's usage examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 3, "the README should show one example per layer"
    namespace: dict = {}
    exec(compile("\n".join(blocks), str(README), "exec"), namespace)
    assert namespace["psi"].shape == (8, 8)
    assert namespace["logits"].shape == (32, 10)
    assert namespace["circuit"].n_qubits == 8
    assert namespace["accuracy"] > 0.9 and namespace["zz_gram"].shape == (50, 50)
    assert set(namespace["search"].best_params_) == {"kernel__gamma", "C"}
