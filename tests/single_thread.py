"""A fixture for tests of ImageNet-scale models: torch on one thread.

Large convolutions on a busy 2-core machine slow down many-fold when two OpenMP threads compete
with other processes; one thread keeps them predictable.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
