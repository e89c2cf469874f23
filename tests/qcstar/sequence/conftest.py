"""One torch thread for the sequence tests: tiny models, and a shared 2-core machine where two
threads contend (a 60-step LSTM run took 40 s with two threads, 1 s with one)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
