"""Every lesson runs top to bottom from a fresh kernel in fast mode, and is committed with outputs stripped.

The kernel starts in ``notebooks/`` (where JupyterLab starts it for a reader), with ``RLHF_LITE_FAST=1`` and
``SDL_VIDEODRIVER=dummy``. A lesson may write only under a ``runs/`` folder (git-ignored).

A hang fails fast and says why: each cell may run ``CELL_TIMEOUT_S`` seconds (``$RLHF_LITE_CELL_TIMEOUT_S``
overrides it on a slow machine); past that the test fails with the cell, the kernel's CPU time while the client
waited, a verdict (a kernel idle and running no cell means a lost message, not slow code) and the stacks of the
client's and the kernel's threads (``tests/notebook_watchdog.py``). The stall once seen here, a reply that sat in
the client's socket until nbclient's timeout (a lost wake-up in the client, with ipykernel 7 and 6 alike), is fixed
where it lives: ``tests/nbrun.py``'s client waits in half-second slices, and each stall it cuts short shows as a
"lost wake-up rescued" warning instead of a failure. A reply that still turns up only when nbclient gives up fails.
To check, run ``python -m pytest tests/test_notebooks.py -k runs_top_to_bottom`` ten times and look for any
"hung in fast mode" or "rescued".
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import nbformat
import pytest
from nbrun import PollingNotebookClient, cell_text
from notebook_watchdog import CellWatchdog

from rlhf_lite import exercises

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# Fast-mode cells take seconds: the longest, in 04, uses about 5 s of CPU and took up to 13 s on two loaded, shared
# cores. A minute leaves room for a slower machine and stops a stalled kernel in one minute instead of ten.
CELL_TIMEOUT_S = float(os.environ.get("RLHF_LITE_CELL_TIMEOUT_S", "60"))
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _ids(paths):
    return [p.stem for p in paths]


def _files_outside_runs(folder: Path) -> set[Path]:
    """Files under ``folder`` except in ``runs/``, caches and checkpoints: what a lesson must not create."""
    skip = {"runs", "__pycache__", ".ipynb_checkpoints"}
    return {p for p in folder.rglob("*") if p.is_file() and not skip & set(p.relative_to(folder).parts)}


def _describe_cell(nb, index: int) -> str:
    cell = nb.cells[index]
    source = "\n".join("    " + line for line in cell.source.splitlines()[:15])
    return f"cell {index} (code cell starting):\n{source}"


def _error_outputs(nb) -> list[str]:
    """Every output that reports an error: error outputs, and tracebacks printed to stderr (widget callbacks
    and threads report their exceptions that way instead of failing the cell)."""
    problems = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                tb = ANSI.sub("", "\n".join(out.get("traceback", [])))
                problems.append(f"{_describe_cell(nb, i)}\n  raised {out.ename}: {out.evalue}\n{tb[-3000:]}")
            elif (
                out.output_type == "stream" and out.name == "stderr" and "Traceback (most recent call last)" in out.text
            ):
                problems.append(
                    f"{_describe_cell(nb, i)}\n  printed a traceback to stderr:\n{ANSI.sub('', out.text)[-3000:]}"
                )
    return problems


def test_the_lessons_exist():
    names = {p.stem for p in NOTEBOOKS}
    assert {"00_start_here", "01_rl_basics"} <= names, f"missing lessons in {NOTEBOOK_DIR}: found {sorted(names)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_committed_clean(path: Path):
    """Outputs stripped, imports by namespace: what the series promises of every notebook in git."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [] and cell.execution_count is None, (
            f"{path.name} cell {i} has outputs or an execution count: commit notebooks with outputs stripped"
        )
        assert not re.search(r"^\s*from\s+\S+\s+import\s+\*", cell.source, re.M), (
            f"{path.name} cell {i} uses 'import *': import by namespace instead"
        )


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_top_to_bottom(path: Path, monkeypatch, tmp_path):
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    monkeypatch.setenv("RLHF_LITE_FAST", "1")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("RLHF_LITE_HEADLESS", "1")  # nobody clicks: labeling widgets fall back and say so
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws the plots
    nb = nbformat.read(path, as_version=4)
    before = _files_outside_runs(NOTEBOOK_DIR)
    dog = CellWatchdog(limit_s=CELL_TIMEOUT_S, stacks_path=tmp_path / "kernel-stacks.txt", name=path.name)
    client = PollingNotebookClient(
        nb,
        timeout=dog.client_timeout_s,
        kernel_name="python3",
        name=path.name,
        extra_arguments=dog.kernel_arguments(),
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    dog.attach(client)
    hang = None
    try:
        client.execute()
    except Exception as e:
        if isinstance(e, CellTimeoutError) or dog.fired:  # a hang can also end in another nbclient error
            # failed below, outside the handler, so the report is not buried in chained tracebacks
            hang = f"{dog.report()}\n--- how nbclient gave up ---\n{type(e).__name__}: {ANSI.sub('', str(e))[-1500:]}"
        elif isinstance(e, CellExecutionError):
            failing = [i for i, c in enumerate(nb.cells) if any(o.output_type == "error" for o in c.get("outputs", []))]
            where = _describe_cell(nb, failing[0]) if failing else "(cell not identified)"
            pytest.fail(f"{path.name} failed in fast mode at {where}\n{ANSI.sub('', str(e))[-4000:]}", pytrace=False)
        else:
            raise
    finally:
        dog.close()
    if dog.fired and not hang:  # it went on after all: still a hang, however the cell ended
        took, limit = dog.answered_after_s or 0.0, dog.client_timeout_s
        hang = f"{dog.report()}\n--- how it ended ---\nThe cell's reply came {took:.1f} s after it was sent"
        if abs(took - limit) < 2:  # the way the ten-minute stalls ended, before the client polled in slices
            hang += (
                f", just as nbclient gave up waiting ({limit} s). The client polls every {client.slice_s:g} s, so"
                " the reply had not been sitting unnoticed in its socket: it arrived that late."
            )
    if hang:
        pytest.fail(f"{path.name} hung in fast mode:\n{hang}", pytrace=False)
    if client.rescues:  # the cells ran right; say that the client-side race happened (polling cut it short)
        warnings.warn(client.rescue_summary(), stacklevel=1)
    problems = _error_outputs(nb)
    assert not problems, f"{path.name} ran but shows errors:\n\n" + "\n\n".join(problems)
    # The exercises as shipped (stubs): each checker must say "Not yet" (the solutions' run, where it must say
    # "Correct!", is in tests/test_exercises_in_notebooks.py; one run of the lesson checks both).
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("rlhf_lite") or {}
        if meta.get("role") == "check":
            said = cell_text(cell).strip()
            assert said.startswith(exercises.NOT_YET), f"{path.name} {meta.get('exercise')} with its stub said:\n{said}"
    # New lessons (*.ipynb) may appear while this runs: other authors save theirs; a lesson never writes one.
    created = sorted(
        str(p.relative_to(ROOT)) for p in _files_outside_runs(NOTEBOOK_DIR) - before if p.suffix != ".ipynb"
    )
    assert not created, f"{path.name} wrote files outside a runs/ folder: {created}"
