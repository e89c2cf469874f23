"""Reliability of qcstar.kernels at its edges: devices this machine lacks are clear errors."""

from __future__ import annotations

import pytest
import torch

from qcstar.circuits.errors import ConfigError

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")


def test_fidelity_gram_on_a_missing_device_is_a_config_error():
    from qcstar.kernels import fidelity_gram

    with pytest.raises(ConfigError, match="needs CUDA"):
        fidelity_gram(torch.eye(4, dtype=torch.complex64), device="cuda")


def test_kernel_constructor_refuses_a_missing_device():
    from qcstar.kernels import FidelityKernel

    with pytest.raises(ConfigError, match="needs CUDA"):
        FidelityKernel(device="cuda")


def test_cli_kernel_svm_with_cuda_exits_2(capsys):
    from qcstar.cli import main

    rc = main(["kernel", "svm", "--dataset", "digits", "--device", "cuda", "--train", "50", "--test", "20"])
    assert rc == 2 and "needs CUDA" in capsys.readouterr().err
