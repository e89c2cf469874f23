"""``python -m qcstar`` runs the same command line as the ``qcstar`` script."""

from __future__ import annotations

import subprocess
import sys


def test_python_dash_m_runs_the_command_line():
    # one interpreter start (seconds): a misspelt flag shows that the command line parsed it
    bad = subprocess.run([sys.executable, "-m", "qcstar", "kernel", "svm", "--trian", "1"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("usage: qcstar kernel svm")
    assert "did you mean --train?" in bad.stderr
