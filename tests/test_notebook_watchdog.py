"""The notebook tests' hang report works: a cell past its limit fails fast, tells a lost request (the kernel
runs no cell) from a cell that waits or computes, and shows the stacks of the kernel's and the client's threads.
And tests/nbrun.py's polling client cuts a lost wake-up (a reply unnoticed in the client's socket) short."""

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
    from nbclient.exceptions import CellTimeoutError
    from nbrun import PollingNotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in sources])
    dog = CellWatchdog(limit_s=LIMIT_S, stacks_path=tmp_path / "kernel-stacks.txt", name="demo.ipynb", grace_s=3)
    # the client tests/test_notebooks.py uses: its short polling slices must leave a real hang a hang
    client = PollingNotebookClient(
        nb,
        timeout=dog.client_timeout_s,
        kernel_name="python3",
        name="demo.ipynb",
        extra_arguments=dog.kernel_arguments(),
        resources={"metadata": {"path": str(tmp_path)}},
    )
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
    assert "No lost wake-up was rescued by polling" in report and "polls its sockets every" in report, report
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
    client = NotebookClient(
        nb,
        timeout=dog.client_timeout_s,
        kernel_name="python3",
        extra_arguments=dog.kernel_arguments(),
        resources={"metadata": {"path": str(tmp_path)}},
    )
    dog.attach(client)
    try:
        client.execute()
    finally:
        dog.close()
    assert dog.fired and dog.answered_after_s is not None and LIMIT_S < dog.answered_after_s < dog.client_timeout_s


# The lost wake-up (issue 11, finding 8): the message is in the socket, but the wait wakes only at its timeout,
# where pyzmq's poll looks once more and finds it. LostWakeUpChannel does exactly that, every time.
class LostWakeUpChannel:
    """A channel whose ``get_msg`` never notices a waiting message until its timeout runs out (``None``: never).
    ``hear=True``: a channel that works, waking when a message arrives (``arrive_in`` seconds from now)."""

    def __init__(self, messages=(), hear=False, arrive_in=0.0):
        import time

        self.messages, self.hear, self.arrives = list(messages), hear, time.monotonic() + arrive_in

    async def get_msg(self, timeout=None):
        import asyncio
        import time
        from queue import Empty

        if self.hear:
            wait = max(0.0, self.arrives - time.monotonic())
            await asyncio.sleep(wait if timeout is None else min(wait, timeout))
        else:
            await asyncio.sleep(3600 if timeout is None else timeout)
        if not self.messages or time.monotonic() < self.arrives:
            raise Empty
        return self.messages.pop(0)


def _reply(sent_s_ago: float) -> dict:  # negative: sent in the future
    from datetime import UTC, datetime, timedelta

    return {"msg_type": "execute_reply", "header": {"date": datetime.now(UTC) - timedelta(seconds=sent_s_ago)}}


def _on_own_loop(coro):
    """Run ``coro`` on a fresh event loop in a thread of its own: earlier tests in the same process (nbclient's
    synchronous wrappers) can leave the main thread with a loop marked running, where asyncio.run refuses."""
    import asyncio
    import threading

    out: dict = {}

    def work():
        loop = asyncio.new_event_loop()
        try:
            out["value"] = loop.run_until_complete(coro)
        except BaseException as e:  # handed back to the caller
            out["error"] = e
        finally:
            loop.close()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def _timed(coro_fn, *args, **kw):
    import time

    start = time.monotonic()
    try:
        return _on_own_loop(coro_fn(*args, **kw)), time.monotonic() - start
    except Exception as e:  # Empty
        return e, time.monotonic() - start


def test_sliced_waits_rescue_a_lost_wake_up_that_costs_plain_nbclient_its_whole_timeout():
    from nbrun import sliced_get_msg

    plain = LostWakeUpChannel([_reply(0.3)])
    msg, plain_s = _timed(plain.get_msg, timeout=2.0)
    assert msg["msg_type"] == "execute_reply" and plain_s >= 2.0, "the fake must wait its whole timeout, as the real"

    rescues = []
    sliced = sliced_get_msg(LostWakeUpChannel([_reply(0.3)]).get_msg, 0.2, lambda m, age: rescues.append(age))
    msg, sliced_s = _timed(sliced, timeout=2.0)
    assert msg["msg_type"] == "execute_reply" and sliced_s < 0.6, f"sliced wait took {sliced_s:.2f} s"
    assert len(rescues) == 1 and rescues[0] >= 0.3, rescues
    # no deadline (nbclient's iopub wait): still one slice
    msg, forever_s = _timed(sliced_get_msg(LostWakeUpChannel([_reply(0.3)]).get_msg, 0.2, lambda m, a: None))
    assert msg["msg_type"] == "execute_reply" and forever_s < 0.6, f"wait without deadline took {forever_s:.2f} s"


def test_sliced_waits_keep_the_timeout_and_count_no_rescue_for_a_prompt_message():
    from queue import Empty

    from nbrun import sliced_get_msg

    rescues = []
    empty, waited = _timed(sliced_get_msg(LostWakeUpChannel().get_msg, 0.2, lambda m, a: rescues.append(a)), 1.0)
    assert isinstance(empty, Empty) and 1.0 <= waited < 1.3, f"{empty!r} after {waited:.2f} s, wanted Empty at 1 s"
    # negative controls: a working channel, with a message waiting or one that arrives after a few slices
    for arrive_in, at_most in ((0.0, 0.1), (0.5, 0.7)):
        works = LostWakeUpChannel([_reply(-arrive_in)], hear=True, arrive_in=arrive_in)
        msg, took = _timed(sliced_get_msg(works.get_msg, 0.2, lambda m, a: rescues.append(a)), timeout=2.0)
        assert msg["msg_type"] == "execute_reply" and arrive_in <= took < at_most, (arrive_in, took)
    assert rescues == [], f"a working channel counted as rescued: {rescues}"


def test_the_loop_pulse_tells_a_paused_event_loop_from_a_lost_wake_up():
    import asyncio
    import time

    from nbrun import STALE_S, LoopPulse

    async def scenario():
        pulse = LoopPulse()
        pulse.ensure_running()
        await asyncio.sleep(0.2)
        idle_since = time.time()
        await asyncio.sleep(0.4)  # the loop runs: a message unnoticed now is the race
        idle = pulse.longest_pause(idle_since)
        blocked_since = time.time()
        time.sleep(0.5)  # the loop cannot run (as on a machine too busy to schedule the client)
        await asyncio.sleep(0.1)
        blocked = pulse.longest_pause(blocked_since)
        pulse.stop()
        return idle, blocked, pulse.longest_pause(idle_since - 10)

    idle, blocked, unknown = _on_own_loop(scenario())
    assert idle is not None and idle < STALE_S, f"an idle loop paused {idle} s between ticks"
    assert blocked is not None and blocked >= 0.45, f"a loop blocked 0.5 s paused only {blocked} s"
    assert unknown is None, "a window starting before the first tick cannot be judged"


def _deafen(km):
    """Make every shell channel ``km`` creates miss its wake-ups, like the stalled client (the real socket)."""
    import asyncio

    make = km.client

    def client(**kw):
        kc = make(**kw)
        real = kc.shell_channel.get_msg

        async def deaf(timeout=None):
            await asyncio.sleep(3600 if timeout is None else timeout)
            return await real(timeout=0)

        kc.shell_channel.get_msg = deaf
        return kc

    km.client = client
    return km


@pytest.mark.notebook
def test_the_polling_client_runs_a_deaf_kernel_client_in_slices_where_nbclient_waits_each_timeout(tmp_path):
    import time

    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbrun import PollingNotebookClient

    timeout = 4
    cells = ["x = 1", "print(x + 1)"]
    took = {}
    for kind, cls in (("plain", NotebookClient), ("polling", PollingNotebookClient)):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in cells])
        km = _deafen(AsyncKernelManager(kernel_name="python3"))
        client = cls(nb, km=km, timeout=timeout, resources={"metadata": {"path": str(tmp_path)}})
        sent, took[kind] = {}, []
        client.on_cell_execute = lambda cell, cell_index, sent=sent: sent.__setitem__(cell_index, time.monotonic())
        client.on_cell_executed = lambda cell, cell_index, sent=sent, out=took[kind], **_: out.append(
            time.monotonic() - sent[cell_index]
        )
        client.execute()
        assert [o.get("text") for o in nb.cells[-1].outputs] == ["2\n"], f"{kind}: {nb.cells[-1].outputs}"
        if kind == "polling":
            rescued = [r for r in client.rescues if r.channel == "shell" and r.msg_type == "execute_reply"]
            assert sorted(r.cell_index for r in rescued) == [0, 1], client.rescues
            assert all(r.lost_wake_up and r.loop_pause_s is not None for r in rescued), client.rescues
            assert "lost wake-up(s) rescued" in client.rescue_summary()
    assert all(s >= timeout - 0.1 for s in took["plain"]), f"plain nbclient should wait out {timeout} s: {took}"
    assert all(s < 2.0 for s in took["polling"]), f"polling should cost at most a slice or two: {took}"
