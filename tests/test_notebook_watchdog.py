"""The notebook tests' hang report works: a cell past its limit fails fast, tells a lost request (the kernel
runs no cell) from a cell that waits or computes, and shows the stacks of the kernel's and the client's threads."""

from __future__ import annotations

import nbformat
import pytest
from notebook_watchdog import CellWatchdog

LIMIT_S = 3.0


# Cell 0 makes the kernel swallow the next execute_request without a reply, as when a request or reply is lost:
# afterwards the kernel is idle in its event loop while the client waits for cell 1's reply.
LOSE_NEXT_REQUEST = """
k = get_ipython().kernel
real = k.shell_handlers["execute_request"]
async def lose_one(*args):
    k.shell_handlers["execute_request"] = real
k.shell_handlers["execute_request"] = lose_one
"""


def _run(sources: list[str], tmp_path) -> tuple[str | None, list]:
    """Run a notebook of ``sources`` under the watchdog; return (hang report or None, the last cell's outputs)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in sources])
    dog = CellWatchdog(limit_s=LIMIT_S, stacks_path=tmp_path / "kernel-stacks.txt", name="demo.ipynb", grace_s=3)
    client = NotebookClient(nb, timeout=dog.client_timeout_s, kernel_name="python3",
                            extra_arguments=dog.kernel_arguments(), resources={"metadata": {"path": str(tmp_path)}})
    dog.attach(client)
    try:
        client.execute()
        return (dog.report() if dog.fired else None), nb.cells[-1].outputs
    except CellTimeoutError:
        return dog.report(), nb.cells[-1].outputs
    finally:
        dog.close()


@pytest.mark.notebook
def test_a_lost_request_is_reported_as_a_stall_with_both_sides_stacks(tmp_path):
    report, _ = _run([LOSE_NEXT_REQUEST, "print('never answered')"], tmp_path)
    assert report is not None, "a request the kernel never answered passed a 3 s limit"
    assert "demo.ipynb: cell 1 ran past its 3 s limit" in report and "print('never answered')" in report, report
    assert "STALL: the kernel runs no cell" in report, report
    kernel, client = report.split("--- kernel threads")[1].split("--- test process threads")
    assert "ipykernel" in kernel and "do_execute" not in kernel, f"kernel stacks missing or in a cell:\n{kernel}"
    assert "test_notebook_watchdog.py" in client, f"no client-side stacks in:\n{client}"


@pytest.mark.notebook
def test_a_cell_that_waits_is_told_apart_from_a_stall(tmp_path):
    report, _ = _run(["import time\ntime.sleep(60)"], tmp_path)
    assert report is not None, "a cell sleeping 60 s passed a 3 s limit"
    assert "running in the kernel but waiting" in report and "STALL" not in report, report
    assert "do_execute" in report.split("--- kernel threads")[1], report


@pytest.mark.notebook
def test_a_busy_cell_is_reported_as_slow(tmp_path):
    report, _ = _run(["import time\nt = time.time()\nwhile time.time() - t < 60:\n    pass"], tmp_path)
    assert report is not None, "a cell spinning 60 s passed a 3 s limit"
    assert "The kernel was computing" in report and "STALL" not in report, report


@pytest.mark.notebook
def test_a_quick_notebook_passes_and_leaves_no_report(tmp_path):
    report, outputs = _run(["x = 1", "print('done')"], tmp_path)
    assert report is None, report
    assert [o.get("text") for o in outputs] == ["done\n"]


@pytest.mark.notebook
def test_a_cell_that_ends_past_the_limit_is_still_caught(tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(4.5)")])
    dog = CellWatchdog(limit_s=LIMIT_S, stacks_path=tmp_path / "kernel-stacks.txt", name="demo.ipynb", grace_s=3)
    client = NotebookClient(nb, timeout=dog.client_timeout_s, kernel_name="python3",
                            extra_arguments=dog.kernel_arguments(), resources={"metadata": {"path": str(tmp_path)}})
    dog.attach(client)
    try:
        client.execute()
    finally:
        dog.close()
    assert dog.fired and dog.answered_after_s is not None and LIMIT_S < dog.answered_after_s < dog.client_timeout_s
