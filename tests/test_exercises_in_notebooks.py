"""The exercises inside the lessons: every lesson runs in fast mode with the solutions filled in, and the checker
cells say "Correct!" (with the stubs as shipped they must say "Not yet": ``tests/test_notebooks.py`` checks that in
its own run of each lesson, so each lesson runs twice in all, not three times).

How exercise cells are found: each one carries notebook metadata ``{"rlhf_lite": {"exercise": "<id>", "role":
"task" | "stub" | "check"}}`` (ids as in ``rlhf_lite.exercises.EXERCISES``). The stub cell holds exactly the
package's stub (``EXERCISES[id].stub``); the solution run swaps in ``exercises.solution_source(id)`` instead.
A lesson without exercise cells yet is skipped, saying so. ``RLHF_LITE_NOTEBOOK_DIR`` points the tests at another
folder of lessons (e.g. a copy with the cells applied, before they are committed).
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from pathlib import Path

import nbformat
import pytest
from nbrun import PollingNotebookClient, cell_text

from rlhf_lite import exercises

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = Path(os.environ.get("RLHF_LITE_NOTEBOOK_DIR", ROOT / "notebooks"))
LESSONS = {e.lesson for e in exercises.EXERCISES.values()}
NOTEBOOKS = sorted(p for p in NOTEBOOK_DIR.glob("*.ipynb") if p.name[:2] in LESSONS)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Fast-mode cells take seconds. A cell that takes minutes is a hang: fail loudly instead of passing ten minutes late.
# (The idle client/kernel stall of issue 11, a lost wake-up in the client, is cut short by tests/nbrun.py's polling.)
CELL_TIMEOUT_S = 180


def _role(cell) -> tuple[str | None, str | None]:
    meta = cell.get("metadata", {}).get("rlhf_lite") or {}
    return meta.get("exercise"), meta.get("role")


def _exercise_cells(nb) -> list[tuple[int, str, str]]:
    return [(i, *_role(c)) for i, c in enumerate(nb.cells) if _role(c)[0] is not None]


def _read_or_skip(path: Path):
    nb = nbformat.read(path, as_version=4)
    if not _exercise_cells(nb):
        pytest.skip(
            f"{path.name} has no exercise cells yet (cells tagged with metadata rlhf_lite.exercise): "
            "apply them first (issue 14, second phase)"
        )
    return nb


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_exercise_cells_match_the_package(path: Path):
    """Each of the lesson's exercises appears once, as task, stub and check, and the stub is the package's."""
    nb = _read_or_skip(path)
    lesson = path.name[:2]
    cells = _exercise_cells(nb)
    wanted = [e for e in exercises.EXERCISES.values() if e.lesson == lesson]
    found = list(dict.fromkeys(ex for _, ex, _ in cells))
    assert found == [e.id for e in wanted], f"{path.name}: exercises {found}, expected {[e.id for e in wanted]}"
    for e in wanted:
        mine = [(i, role) for i, ex, role in cells if ex == e.id]
        assert [role for _, role in mine] == ["task", "stub", "check"], f"{path.name} {e.id}: cells {mine}"
        (_, _), (stub_i, _), (check_i, _) = mine
        assert nb.cells[stub_i].source.strip() == e.stub.strip(), (
            f"{path.name} {e.id}: the stub cell differs from rlhf_lite.exercises' stub; keep them the same"
        )
        assert nb.cells[check_i].source.strip() == e.check_call(), f"{path.name} {e.id}: check cell"
        assert check_i == stub_i + 1
        assert "your code here" in nb.cells[stub_i].source


def _run(nb, path: Path, tmp_path: Path, monkeypatch):
    """Execute ``nb`` as ``tests/test_notebooks.py`` does (fast, headless), in a copy of the lessons' folder."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    monkeypatch.setenv("RLHF_LITE_FAST", "1")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("RLHF_LITE_HEADLESS", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    workdir = tmp_path / "notebooks"  # runs/ goes here, not into the reader's notebooks/runs
    workdir.mkdir()
    client = PollingNotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        name=path.name,
        resources={"metadata": {"path": str(workdir)}},
    )
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as e:
        rescued = f"\n{client.rescue_summary()}" if client.rescues else ""
        pytest.fail(f"{path.name} failed in fast mode:\n{ANSI.sub('', str(e))[-4000:]}{rescued}", pytrace=False)
    if client.rescues:  # the cells ran right; the client-side race happened and polling cut it short
        warnings.warn(client.rescue_summary(), stacklevel=1)
    errors = [i for i, c in enumerate(nb.cells) for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, f"{path.name}: cells {errors} raised"
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_lesson_runs_with_solutions(path: Path, tmp_path, monkeypatch):
    """The solutions swapped into the stub cells: every checker says "Correct!". (With the stubs as shipped, every
    checker must say "Not yet": ``tests/test_notebooks.py`` checks that in its run of the lesson.)"""
    nb = _read_or_skip(path)
    for _, exercise_id, role in _exercise_cells(nb):
        if role == "stub":
            index = next(i for i, ex, r in _exercise_cells(nb) if ex == exercise_id and r == "stub")
            nb.cells[index].source = exercises.solution_source(exercise_id)
    _run(nb, path, tmp_path, monkeypatch)
    for i, exercise_id, role in _exercise_cells(nb):
        if role == "check":
            said = cell_text(nb.cells[i]).strip()
            assert said.startswith(exercises.PASS), (
                f"{path.name} {exercise_id} with its solution: the check said\n{said}"
            )
