"""Progress bars and the callback type shared by the tabular methods and PPO."""

from __future__ import annotations

from collections.abc import Callable

Callback = Callable[[dict], "bool | None"]
"""Called after each episode (tabular) or iteration (PPO) with a dict of progress; returning True stops."""


def _progress_bar(total: int, enabled: bool, desc: str):
    """A ``tqdm.auto`` bar (a widget in Jupyter, text in a terminal), or a do-nothing stand-in."""
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=True)


class _NoBar:
    def update(self, n: int = 1) -> None: ...
    def set_postfix_str(self, s: str, refresh: bool = True) -> None: ...
    def close(self) -> None: ...
