"""Is a person there? The one place that decides whether a notebook front end shows this kernel's widgets.

:func:`headless_reason` is the ONE decision that every labeling widget, every notebook's "nobody is there" cell
and :func:`rlhf_lite.notebook.setup` ask; :func:`running_kernel` is the one "are we in a Jupyter kernel?" check
of the package (the dashboard and the live curves ask it too).
"""

from __future__ import annotations

import os
import sys
from typing import Any

HEADLESS_ENV_VAR = "RLHF_LITE_HEADLESS"


def headless_reason(headless: bool | None = None) -> str | None:
    """Why no person can click here (a sentence), or ``None`` when a person can: the ONE decision that every
    labeling widget and every notebook's "nobody is there" cell asks.

    In order: ``headless`` True/False decides outright; ``RLHF_LITE_HEADLESS=1``/``0`` decides; plain Python
    without a Jupyter kernel is headless; in a kernel, a person can click when :func:`front_end_evidence`
    finds a notebook front end connected, and it is headless when it finds none (a script such as nbclient,
    nbconvert or papermill runs the notebook). Fast mode plays no part: it only shrinks training budgets.
    """
    if headless is True:
        return "headless=True was passed"
    if headless is False:
        return None
    flag = os.environ.get(HEADLESS_ENV_VAR, "").strip().lower()
    if flag in ("1", "true", "yes"):
        return f"{HEADLESS_ENV_VAR}={os.environ[HEADLESS_ENV_VAR]} is set"
    if flag in ("0", "false", "no"):
        return None
    kernel = running_kernel()
    if kernel is None:
        return "this is plain Python, not a Jupyter kernel, so no buttons can be shown"
    if front_end_evidence(kernel) is None:
        return (
            "a script runs this notebook (nbclient, nbconvert or papermill, as in the automatic tests), not a "
            f"notebook page, so nobody can click; if you are at a page, set {HEADLESS_ENV_VAR}=0"
        )
    return None


_FRONT_END_SEEN: dict[str, str] = {}  # evidence seen earlier in this kernel that a front end renders widgets


def front_end_evidence(kernel: Any = None) -> str | None:
    """What shows that a notebook front end shows this kernel's widgets to a person (a phrase), or ``None``.

    Signals, first match wins (``kernel`` defaults to the running IPython kernel):

    - a front end drew a widget: :func:`watch_views` widgets (every :class:`ConfigPanel`) ask the front end to
      count the views it renders (ipywidgets' ``_view_count``); a count above 0 means a widget front end is
      connected. The front end's report reaches the kernel only between cells (with Run All, after the
      queued cells), so this covers cells run one at a time, in any front end that renders widgets.
    - the running cell came from a notebook page: JupyterLab 3+ and Notebook 7 (the ``@jupyterlab/services``
      client) put the cell's ``cellId`` in every execute request's metadata; nbclient, nbconvert, papermill
      and ``jupyter console`` send no metadata. Checked in JupyterLab 4 + Chromium (tests/browser) and
      nbclient (tests/test_notebooks.py). This covers Run All.
    - the running code answers a widget event (a click or a slider move sent by a front end).
    - VS Code's Jupyter extension defines ``__vsc_ipynb_file__`` in its kernels (not checked here).

    A page whose widgets cannot render (``jupyterlab_widgets`` missing) still counts as a person at the page:
    README's troubleshooting covers that; ``RLHF_LITE_HEADLESS`` overrides every signal.
    """
    if _FRONT_END_SEEN:
        return next(iter(_FRONT_END_SEEN.values()))
    kernel = kernel if kernel is not None else running_kernel()
    if kernel is None:
        return None
    try:
        parent = kernel.get_parent() or {}
    except Exception:  # an older or foreign kernel without get_parent(): no evidence either way
        parent = {}
    msg_type = (parent.get("header") or {}).get("msg_type")
    if msg_type == "execute_request" and (parent.get("metadata") or {}).get("cellId"):
        return _seen("a notebook page ran this cell (its execute request names the cell)")
    if msg_type == "comm_msg":
        return _seen("a front end sent a widget event (a click or a slider move)")
    shell = getattr(kernel, "shell", None)
    if "__vsc_ipynb_file__" in (getattr(shell, "user_ns", None) or {}):
        return _seen("VS Code runs this notebook")
    return None


def _seen(evidence: str) -> str:
    _FRONT_END_SEEN.setdefault("front end", evidence)  # a front end stays connected: later calls trust it
    return evidence


def watch_views(widget: Any) -> Any:
    """Ask the front end to report how many views of ``widget`` it renders (ipywidgets' ``_view_count``), so
    that :func:`front_end_evidence` learns that a widget front end is connected once one is drawn."""
    if getattr(widget, "_view_count", 0) is None:
        widget._view_count = 0

        def on_count(change: Any) -> None:
            if (change.get("new") or 0) > 0:
                _seen(f"a front end drew a {type(widget).__name__} widget")

        widget.observe(on_count, names="_view_count")
    return widget


def running_kernel() -> Any:
    """The running IPython kernel, or ``None`` (plain Python, or IPython without a kernel)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    shell = ipython.get_ipython()
    return getattr(shell, "kernel", None) if shell is not None else None
