"""The set-up every lesson runs in its first code cell: one call instead of a preamble copied into each notebook.

    from rlhf_lite import notebook
    SETUP = notebook.setup("04_rlhf_loop")   # fast mode, runs/04_rlhf_loop/, one torch thread, off-screen drawing
    FAST, RUNS, DATA = SETUP.fast, SETUP.runs, SETUP.data

Matplotlib is left alone: the notebook's own inline backend draws the figures (exporting ``MPLBACKEND=Agg`` would
hide them).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from rlhf_lite import config
from rlhf_lite.widgets import presence

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
"""The shipped ``data/`` folder (label files and the scripts that made them), found from the package itself, so a
lesson finds it from any working directory."""


@dataclasses.dataclass(frozen=True)
class Setup:
    """What :func:`setup` set, for the rest of the lesson to read."""

    fast: bool
    """fast mode (``RLHF_LITE_FAST``): tiny budgets for CI and a quick first look."""
    runs: Path
    """the folder this lesson writes to (created; ``runs/`` is git-ignored)."""
    data: Path
    """the shipped ``data/`` folder (read only)."""
    threads: int
    """torch threads (``torch.set_num_threads``)."""
    headless_reason: str | None
    """why nobody can click here (:func:`rlhf_lite.widgets.headless_reason`), or None when a person is at the page."""

    @property
    def headless(self) -> bool:
        """True when nobody can click here (stand-in cells answer instead of a person)."""
        return self.headless_reason is not None

    def summary(self) -> str:
        """The one line :func:`setup` prints."""
        fast = "fast mode ON (tiny budgets, rough results)" if self.fast else "fast mode off (full lessons)"
        who = "a person is at the page" if not self.headless else "nobody is at the page"
        threads = f"{self.threads} torch thread{'s' if self.threads != 1 else ''}"
        return f"set up: {fast}; writes to {self.runs}/; {threads}; drawing off-screen; {who}"


def setup(lesson: str | None = None, *, runs: str | Path = "runs", threads: int = 1, quiet: bool = False) -> Setup:
    """Prepare a lesson's kernel and say in one line what was set; returns a :class:`Setup`.

    - environments draw off-screen (``SDL_VIDEODRIVER=dummy`` unless already set): no window pops up;
    - torch uses ``threads`` threads (default 1: the lessons' networks are tiny, and one thread is fastest and
      leaves a core for the widgets);
    - the runs folder ``runs/<lesson>`` (``runs`` itself when ``lesson`` is None) is created. A relative ``runs``
      is taken from the working directory, which in a notebook is the notebook's folder: ``notebooks/runs/``;
    - fast mode and whether a person is at the page are read once (:func:`rlhf_lite.config.fast_mode`,
      :func:`rlhf_lite.widgets.headless_reason`); later cells may ask ``headless_reason()`` again, since a front
      end can make itself known after the first cell.
    """
    if lesson is not None and (not isinstance(lesson, str) or not lesson.strip() or Path(lesson).name != lesson):
        raise ValueError(
            f"setup(lesson={lesson!r}) is not allowed: expected a folder name such as "
            "'03_reward_predictor' (no slashes) or None"
        )
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"setup(threads={threads!r}) is not allowed: expected a whole number >= 1")
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import torch

    torch.set_num_threads(threads)
    folder = Path(runs) / lesson if lesson is not None else Path(runs)
    folder.mkdir(parents=True, exist_ok=True)
    done = Setup(
        fast=config.fast_mode(), runs=folder, data=DATA_DIR, threads=threads, headless_reason=presence.headless_reason()
    )
    if not quiet:
        print(done.summary())
    return done
