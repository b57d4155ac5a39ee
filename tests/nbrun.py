"""Run notebooks with nbclient without the lost wake-up stall: every wait on the kernel polls in short slices.

The stall (issue 11, finding 8): the kernel's reply was already in the client's shell socket, but nbclient's
``await kc.shell_channel.get_msg(timeout=T)`` woke only when ``T`` ran out. jupyter_client's async channel waits
with ``socket.poll(T)``; pyzmq's asyncio poll waits for the socket's file descriptor, which is edge-triggered, and
a missed edge means nobody wakes it; the poll's last check at the timeout then finds the message. Seen with
ipykernel 6.31 and 7.4 alike, so it is a client-side race, not the kernel's.

``PollingNotebookClient`` wraps ``get_msg`` of the shell and iopub channels as soon as the kernel client exists:
one wait of ``T`` becomes waits of at most ``slice_s`` until the same deadline, so a lost wake-up costs at most
one slice and the overall timeout means what it did. A slice that returned a message only at its end (or right
after an empty slice) although the kernel had sent it ``STALE_S`` or more before is a *rescue*: a stall that
polling cut short. Each rescue is kept in ``client.rescues`` and printed as one line on stderr; it is not an
error (the cell ran correctly), only a sign that the race happened. To tell the race from a busy machine, a pulse
task ticks every ``TICK_S`` on the client's event loop: if the loop itself stood still while the message waited (no
process time, a long output being handled), the message was late for that reason, and the note says so.

Usage::

    client = PollingNotebookClient(nb, timeout=60, kernel_name="python3", name="04_rlhf_loop.ipynb", ...)
    client.execute()
    client.rescues  # [Rescue(channel='shell', msg_type='execute_reply', cell_index=7, waited_s=0.49), ...]
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
import typing as t
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from queue import Empty

from nbclient import NotebookClient
from nbclient.util import ensure_async, run_sync
from traitlets import Float, Unicode

SLICE_S = 0.5  # longest single wait on a channel; a lost wake-up costs at most this
STALE_S = 0.2  # a message the kernel sent this long before the client got it sat unnoticed in the socket
AT_ONCE_S = 0.02  # a slice that returns within this after an empty slice returned "at once"
TICK_S = 0.05  # the event-loop pulse; a pause much longer than this means the loop could not run
CHANNELS = ("shell", "iopub")


@dataclass(frozen=True)
class Rescue:
    """One lost wake-up that a short slice cut short: which channel, which message, which cell, and how long the
    message had sat in the client's socket (from the kernel's send time in its header)."""

    channel: str
    msg_type: str
    cell_index: int | None
    waited_s: float
    loop_pause_s: float | None = None  # longest pause of the client's event loop meanwhile (None: not measured)

    @property
    def lost_wake_up(self) -> bool:
        """True unless the client's event loop itself stood still while the message waited (a busy machine)."""
        return self.loop_pause_s is None or self.loop_pause_s < STALE_S

    def __str__(self) -> str:
        where = "before the first cell" if self.cell_index is None else f"in cell {self.cell_index}"
        said = f"{self.channel} {self.msg_type} {where} sat {self.waited_s:.2f} s unnoticed"
        if self.loop_pause_s is None:
            return said
        if self.lost_wake_up:
            return f"{said} while the event loop ran (longest pause {self.loop_pause_s:.2f} s)"
        return f"{said}, but the event loop itself was paused {self.loop_pause_s:.2f} s (a busy machine, not the race)"


class LoopPulse:
    """Ticks every ``TICK_S`` on the event loop the channels wait on. ``longest_pause(since)``: the longest time
    without a tick from ``since`` (a ``time.time()``) until now; a lost wake-up leaves the loop ticking."""

    def __init__(self):
        self.ticks: deque[float] = deque(maxlen=400)  # 20 s of history
        self._task: asyncio.Task | None = None

    def ensure_running(self) -> None:
        """Start ticking on the running loop (again, if the loop changed or the task ended)."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            self.ticks.append(time.time())
            await asyncio.sleep(TICK_S)

    def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    def longest_pause(self, since: float) -> float | None:
        """Seconds of the longest gap between ticks (and now) after ``since``; None if no tick came before it."""
        ticks = list(self.ticks)
        before = [t for t in ticks if t <= since]
        if not before:
            return None
        points = [before[-1], *(t for t in ticks if t > since), time.time()]
        return max(b - a for a, b in zip(points, points[1:], strict=False))


def _age_s(msg: dict) -> float | None:
    """Seconds since the kernel stamped ``msg``'s header (None if it carries no date)."""
    date = msg.get("header", {}).get("date")
    if not isinstance(date, datetime):
        return None
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    return (datetime.now(UTC) - date).total_seconds()


def sliced_get_msg(
    get_msg: t.Callable[..., t.Any],
    slice_s: float,
    on_rescue: t.Callable[[dict, float], None],
    pulse: LoopPulse | None = None,
) -> t.Callable[..., t.Awaitable[dict]]:
    """Wrap a channel's ``get_msg(timeout=None)``: the same deadline (``None``: none), waited in slices of at most
    ``slice_s`` seconds. Calls ``on_rescue(msg, age_s)`` for a message that sat in the socket while a slice
    waited (returned at the slice's end, or at once after an empty slice, and sent ``STALE_S`` or more ago).
    Raises ``queue.Empty`` at the deadline, like the wrapped ``get_msg``. ``pulse``: started on the first wait."""

    async def get(timeout: float | None = None) -> dict:
        if pulse is not None:
            pulse.ensure_running()
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        empty_before = False
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            step = slice_s if left is None else min(slice_s, left)
            began = time.monotonic()
            try:
                msg = await ensure_async(get_msg(timeout=step))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                empty_before = True
                continue
            took = time.monotonic() - began
            age = _age_s(msg)
            woke_late = step > 0 and (took >= 0.9 * step or (empty_before and took <= AT_ONCE_S))
            if woke_late and age is not None and age >= STALE_S:
                on_rescue(msg, age)
            return msg

    return get


class PollingNotebookClient(NotebookClient):
    """An nbclient ``NotebookClient`` whose waits on the shell and iopub channels poll in slices (module doc)."""

    slice_s = Float(SLICE_S, help="longest single wait on a kernel channel, in seconds").tag(config=True)
    name = Unicode("the notebook", help="what the rescue notes call the notebook").tag(config=True)

    def __init__(self, nb, km=None, **kw):
        super().__init__(nb, km=km, **kw)
        self.rescues: list[Rescue] = []
        self._cell_index: int | None = None
        self._pulse = LoopPulse()

    async def async_start_new_kernel_client(self):
        """Create the kernel client as nbclient does, with its channels' ``get_msg`` sliced before they start."""
        assert self.km is not None
        make = self.km.client

        def client(**kwargs):
            kc = make(**kwargs)
            self.slice_channels(kc)
            return kc

        self.km.client = client
        try:
            return await super().async_start_new_kernel_client()
        finally:
            self.km.client = make

    start_new_kernel_client = run_sync(async_start_new_kernel_client)  # nbclient binds its own otherwise

    def slice_channels(self, kc) -> None:
        """Replace ``get_msg`` of ``kc``'s shell and iopub channels by sliced waits that record rescues."""
        for channel in CHANNELS:
            chan = getattr(kc, f"{channel}_channel")
            chan.get_msg = sliced_get_msg(chan.get_msg, self.slice_s, self._rescued_on(channel), self._pulse)

    def _rescued_on(self, channel: str) -> t.Callable[[dict, float], None]:
        def note(msg: dict, age_s: float) -> None:
            pause = self._pulse.longest_pause(time.time() - age_s)
            rescue = Rescue(
                channel,
                msg.get("msg_type", "?"),
                self._cell_index,
                round(age_s, 3),
                None if pause is None else round(pause, 3),
            )
            self.rescues.append(rescue)
            what = "lost wake-up rescued by polling" if rescue.lost_wake_up else "late message"
            print(f"nbrun: {self.name}: {what}: {rescue}", file=sys.stderr, flush=True)

        return note

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        self._cell_index = cell_index
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

    execute_cell = run_sync(async_execute_cell)

    async def _async_cleanup_kernel(self) -> None:
        self._pulse.stop()
        await super()._async_cleanup_kernel()

    _cleanup_kernel = run_sync(_async_cleanup_kernel)

    @property
    def lost_wake_ups(self) -> list[Rescue]:
        """The rescues during which the event loop ran: the client-side race itself, cut short by polling."""
        return [r for r in self.rescues if r.lost_wake_up]

    def rescue_summary(self) -> str:
        """One line: how many lost wake-ups polling rescued, and the worst (empty string if no message was late)."""
        if not self.rescues:
            return ""
        lost, busy = self.lost_wake_ups, [r for r in self.rescues if not r.lost_wake_up]
        said = f"{self.name}: {len(lost)} lost wake-up(s) rescued by polling every {self.slice_s:g} s"
        if lost:
            said += f"; worst: {max(lost, key=lambda r: r.waited_s)}"
        if busy:
            said += f"; {len(busy)} message(s) late because the event loop was paused (busy machine)"
        return said


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def cell_text(cell: t.Any) -> str:
    """What an executed cell printed or displayed, as plain text (colour codes removed): streams, results,
    displays and errors, in order."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
    return _ANSI.sub("", "".join(parts))
