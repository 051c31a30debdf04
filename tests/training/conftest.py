"""Fixtures of the long-run tests."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """The same thread count in every run of a comparison (CPU reductions depend on it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
