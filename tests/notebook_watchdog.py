"""A per-cell watchdog for notebooks run by nbclient: a cell that runs too long fails with a report that says why.

A hung notebook test used to sit for ten minutes and then pass. With this watchdog a cell that runs past its
limit leaves a report naming the cell, how much CPU the kernel used while the client waited, a verdict (an idle
kernel that runs no cell means a lost message, not slow code) and the stacks of every thread of the test process
(the nbclient side, dumped with ``faulthandler.dump_traceback``) and of the kernel (which registers
``faulthandler`` on SIGUSR1 when it starts, through ``kernel_arguments()``, and dumps its threads into a file on
that signal).

Usage (see ``tests/test_notebooks.py``)::

    dog = CellWatchdog(limit_s=60, stacks_path=tmp_path / "kernel-stacks.txt")
    client = NotebookClient(nb, timeout=dog.client_timeout_s, extra_arguments=dog.kernel_arguments(), ...)
    dog.attach(client)
    try:
        client.execute()
    except CellTimeoutError:
        pytest.fail(dog.report(), pytrace=False)
    finally:
        dog.close()

Only public nbclient hooks are used (``on_notebook_start``, ``on_cell_execute``, ``on_cell_executed``): the
watchdog's own timer fires at ``limit_s`` while the kernel is still alive, and nbclient's timeout
(``client_timeout_s``, a few seconds later) then ends the cell.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

# Run by the kernel before it serves requests. One expression, so the reader's namespace gains no names.
_REGISTER_DUMP = (
    "__import__('faulthandler').register(__import__('signal').SIGUSR1, all_threads=True, file=open({path!r}, 'w'))"
)
# Seconds nbclient waits after the watchdog fired before it raises CellTimeoutError (time to collect stacks).
GRACE_S = 10.0
IDLE_SHARE = 0.1  # a kernel that used less CPU than this share of the wait was idle, not computing


def _process_cpu_s(pid: int) -> float | None:
    """User plus system CPU seconds of process ``pid`` so far (all its threads), or None if unreadable."""
    try:
        import psutil

        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except Exception:  # psutil missing, or the process is gone
        pass
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _own_stacks() -> str:
    """Every thread's stack in this process, as ``faulthandler`` prints them (it needs a real file)."""
    with tempfile.TemporaryFile("w+") as f:
        faulthandler.dump_traceback(file=f, all_threads=True)
        f.seek(0)
        return f.read()


def _verdict(cpu_used_s: float | None, waited_s: float, kernel_stacks: str) -> str:
    """What the hang looks like, from the kernel's CPU time over the wait and whether any of its threads is inside
    a cell (ipykernel's ``do_execute``)."""
    dumped = "most recent call first" in kernel_stacks
    in_cell = "do_execute" in kernel_stacks
    idle = cpu_used_s is not None and cpu_used_s < IDLE_SHARE * waited_s
    busy = cpu_used_s is not None and not idle
    stall = (
        "STALL: the kernel runs no cell, yet the client still waits for this cell's reply: a request or reply"
        " was lost between client and kernel (or sits unnoticed in the client's socket), not slow code."
    )
    if in_cell and idle:
        return (
            "The cell is running in the kernel but waiting (sleep, lock, I/O, a widget nobody clicks): the"
            " kernel's stack below shows where."
        )
    if in_cell or (busy and not dumped):
        return (
            "The kernel was computing: the cell is slow in fast mode. Make it faster, or on a slow machine"
            " raise RLHF_LITE_CELL_TIMEOUT_S."
        )
    if dumped:
        return stall + ("" if not busy else " (The kernel was busy with something else meanwhile: see its threads.)")
    if idle:
        return "The kernel was idle but its stacks could not be read: a stall, or a cell that waits."
    return "Neither the kernel's CPU time nor its stacks could be read."


class CellWatchdog:
    """Times each cell nbclient executes; at ``limit_s`` it records a hang report while the kernel still runs.

    ``limit_s``: seconds one cell may run. ``stacks_path``: file the kernel writes its stacks to on SIGUSR1.
    ``name``: what the report calls the notebook. ``grace_s``: how long after the report nbclient gives up."""

    def __init__(self, limit_s: float, stacks_path: Path, name: str = "the notebook", grace_s: float = GRACE_S):
        self.limit_s = limit_s
        self.grace_s = grace_s
        self.stacks_path = Path(stacks_path)
        self.name = name
        self._client = None
        self._timer: threading.Timer | None = None
        self._cell: tuple[int, str] | None = None
        self._started = 0.0
        self._cpu_at_start: float | None = None
        self._report: str | None = None
        self._fired = threading.Event()
        # Seconds after it was sent that a cell past the limit got its reply after all (None: it did not). A reply
        # that comes just when nbclient's own timeout polls the socket again had been there unnoticed.
        self.answered_after_s: float | None = None

    @property
    def client_timeout_s(self) -> int:
        """nbclient's per-cell timeout: the watchdog's limit plus time to collect the stacks."""
        return int(self.limit_s + self.grace_s + 0.999)

    def kernel_arguments(self) -> list[str]:
        """Kernel command-line arguments that make the kernel dump its threads' stacks to ``stacks_path`` on
        SIGUSR1 (ipykernel's ``exec_lines`` run once at start, before the first request is served)."""
        return ["--IPKernelApp.exec_lines=" + _REGISTER_DUMP.format(path=str(self.stacks_path))]

    def attach(self, client) -> None:
        """Hook into ``client`` (an nbclient NotebookClient): time every cell it sends to the kernel."""
        self._client = client
        client.on_notebook_start = self._kernel_started  # times the kernel_info request before the first cell
        client.on_cell_execute = self._cell_sent
        client.on_cell_executed = self._cell_done

    @property
    def fired(self) -> bool:
        """True once a cell (or the first request) has run past the limit."""
        return self._fired.is_set()

    def _kernel_pid(self) -> int | None:
        provisioner = getattr(getattr(self._client, "km", None), "provisioner", None)
        return getattr(provisioner, "pid", None)

    def _kernel_started(self, **_) -> None:
        self._start(None, "(nbclient's kernel_info request, sent before the first cell)")

    def _cell_sent(self, cell, cell_index: int) -> None:
        self._start(cell_index, cell.source)

    def _start(self, cell_index: int | None, source: str) -> None:
        self._cancel()
        self._cell = (cell_index, source)
        self._started = time.monotonic()
        pid = self._kernel_pid()
        self._cpu_at_start = _process_cpu_s(pid) if pid else None
        self._timer = threading.Timer(self.limit_s, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _cell_done(self, **_) -> None:
        self._cancel()
        if self.fired and self.answered_after_s is None:
            self.answered_after_s = time.monotonic() - self._started

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        """Stop the timer (call when the notebook is done, however it ended)."""
        self._cancel()

    def _fire(self) -> None:
        try:
            self._report = self._build_report()
        except Exception as e:  # a report that failed must still say so, not hide the timeout
            self._report = f"(the hang report itself failed: {type(e).__name__}: {e})"
        finally:
            self._fired.set()

    def _kernel_stacks(self, pid: int | None) -> str:
        if pid is None:
            return "(no kernel process id: stacks not dumped)"
        try:
            os.kill(pid, signal.SIGUSR1)
        except OSError as e:
            return f"(could not signal kernel pid {pid}: {e})"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (self.stacks_path.exists() and self.stacks_path.stat().st_size):
            time.sleep(0.1)
        time.sleep(0.5)  # the handler writes thread after thread; let it finish
        text = self.stacks_path.read_text() if self.stacks_path.exists() else ""
        return text or f"(kernel pid {pid} wrote nothing to {self.stacks_path} on SIGUSR1)"

    def _build_report(self) -> str:
        index, source = self._cell or (None, "")
        what = "the first request" if index is None else f"cell {index}"
        waited = time.monotonic() - self._started
        pid = self._kernel_pid()
        cpu_now = _process_cpu_s(pid) if pid else None
        kernel_stacks = self._kernel_stacks(pid).rstrip()  # after the CPU reading: the dump costs a little CPU
        head = "\n".join("    " + line for line in source.splitlines()[:15])
        lines = [
            f"{self.name}: {what} ran past its {self.limit_s:g} s limit (fast-mode cells take seconds).",
            f"  {what} starts:\n{head}",
        ]
        used = None if cpu_now is None or self._cpu_at_start is None else cpu_now - self._cpu_at_start
        lines.append(
            f"  kernel pid {pid} used "
            + ("an unknown amount of CPU" if used is None else f"{used:.1f} s of CPU")
            + f" in the {waited:.0f} s the client waited."
        )
        lines.append("  " + _verdict(used, waited, kernel_stacks))
        slice_s = getattr(self._client, "slice_s", None)  # tests/nbrun.py's polling client
        if slice_s is None:
            lines.append(
                "  The client waits with nbclient's single long poll: a reply may sit unnoticed in its socket."
            )
        else:
            lines.append(
                f"  The client polls its sockets every {slice_s:g} s, so this cell's reply is not sitting unnoticed"
                " there: it was never sent, or never reached the client."
            )
            rescued = self._client.rescue_summary()
            lines.append("  " + (rescued or "No lost wake-up was rescued by polling before this."))
        lines.append("--- kernel threads (faulthandler, on SIGUSR1) ---\n" + kernel_stacks)
        lines.append(
            "--- test process threads (nbclient client side, faulthandler.dump_traceback) ---\n"
            + _own_stacks().rstrip()
        )
        return "\n".join(lines)

    def report(self) -> str:
        """The hang report of the cell that timed out (waits for the timer thread to finish writing it)."""
        if not self._fired.wait(timeout=self.grace_s + 10):
            return f"{self.name}: a cell timed out before the watchdog fired (no stacks were collected)."
        return self._report or ""
