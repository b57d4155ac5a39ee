"""notebook.setup(): the one preamble every lesson runs in its first code cell, and no lesson keeps its own copy."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import nbformat
import pytest
import torch

from rlhf_lite import notebook
from rlhf_lite.widgets import presence

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture
def clean(monkeypatch, tmp_path):
    """A working directory of our own, torch's thread count restored afterwards, no driver or switches set."""
    monkeypatch.chdir(tmp_path)
    for name in ("SDL_VIDEODRIVER", "MPLBACKEND", "RLHF_LITE_FAST", presence.HEADLESS_ENV_VAR):
        monkeypatch.delenv(name, raising=False)
    threads = torch.get_num_threads()
    yield tmp_path
    torch.set_num_threads(threads)


def test_setup_sets_what_a_lesson_needs_and_says_so_in_one_line(clean, monkeypatch, capsys):
    import os

    monkeypatch.setenv("RLHF_LITE_FAST", "1")
    torch.set_num_threads(2)
    got = notebook.setup("03_reward_predictor")
    assert got.fast is True
    assert got.runs == Path("runs") / "03_reward_predictor" and (clean / "runs" / "03_reward_predictor").is_dir()
    assert (got.data / "pendulum_oracle_labels.jsonl").is_file(), "data/ is found from the package, any cwd"
    assert got.data == ROOT / "data"
    assert torch.get_num_threads() == 1 and got.threads == 1
    assert os.environ["SDL_VIDEODRIVER"] == "dummy"
    assert "MPLBACKEND" not in os.environ, "the notebook's inline matplotlib backend must stay the default"
    assert got.headless and "plain Python" in got.headless_reason, "pytest has no kernel: nobody can click"
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "fast mode ON" in lines[0] and "runs/03_reward_predictor" in lines[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.fast = False


def test_setup_follows_the_switches_and_leaves_a_chosen_driver(clean, monkeypatch, capsys):
    import os

    monkeypatch.setenv("SDL_VIDEODRIVER", "x11")
    monkeypatch.setenv(presence.HEADLESS_ENV_VAR, "0")
    got = notebook.setup(threads=2, quiet=True)
    assert got.fast is False and got.runs == Path("runs") and (clean / "runs").is_dir()
    assert got.headless_reason is None and not got.headless, "RLHF_LITE_HEADLESS=0 says a person is there"
    assert os.environ["SDL_VIDEODRIVER"] == "x11" and torch.get_num_threads() == 2
    assert capsys.readouterr().out == "", "quiet=True prints nothing"
    assert "fast mode off" in got.summary() and "2 torch threads" in got.summary()


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(lesson="runs/../x"), "lesson='runs/../x'"),
        (dict(lesson=""), "lesson=''"),
        (dict(threads=0), "threads=0"),
        (dict(threads=True), "threads=True"),
    ],
)
def test_setup_refuses_bad_arguments_by_name(clean, kwargs, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        notebook.setup(**kwargs, quiet=True)
    assert not (clean / "runs").exists(), "nothing is created before the arguments are checked"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_lesson_calls_setup_first_and_keeps_no_copy_of_the_preamble(path):
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    assert "notebook.setup(" in cells[0].source, f"{path.name}: the first code cell must call notebook.setup(...)"
    preamble = re.compile(
        r"SDL_VIDEODRIVER|set_num_threads|config\.fast_mode\(\)|Path\(\s*[\"']runs|"
        r"MPLBACKEND|__file__\)\.resolve\(\)"
    )
    for i, cell in enumerate(cells):
        found = preamble.findall(cell.source)
        assert not found, f"{path.name} code cell {i} sets {found} itself: notebook.setup() does that"
