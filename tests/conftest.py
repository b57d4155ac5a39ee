import os

import pytest

# Rendering through pygame needs no screen; say so before any test imports gymnasium's renderers.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test (fastest for these tiny networks, and far faster on a busy machine); the
    previous setting is put back afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
