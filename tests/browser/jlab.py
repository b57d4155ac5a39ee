"""Drive a real JupyterLab in headless Chromium, the way a person uses the lessons.

Two pieces, both free of pytest so that ``benchmarks/widget_latency.py`` can use them too:

- ``LabServer`` starts ``jupyter lab`` on 127.0.0.1 on a free port with a token, in an isolated HOME and
  Jupyter/JupyterLab config, data, runtime, settings and workspace folders, serving a temporary copy of the
  repository's ``notebooks/`` folder (tests never write into the repository). The kernel inherits
  ``RLHF_LITE_FAST=1`` and ``SDL_VIDEODRIVER=dummy`` and still finds the installed ipykernel and rlhf_lite
  (kernelspecs and lab extensions are found under ``sys.prefix``, which the isolated folders do not hide).
- ``Lab`` wraps a Playwright page: open a notebook, Run > Run All Cells from the menu bar, wait until the
  kernel is idle, find widgets by their DOM classes, click, read text, restart the kernel.

Chromium is Debian's (``/usr/bin/chromium``); Playwright's own browser download does not work here.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from secrets import token_hex

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
CHROMIUM = os.environ.get("RLHF_LITE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# JupyterLab user settings for the test server: no news or update pop-up, no extension manager reaching PyPI,
# every cell attached to the DOM (so off-screen widgets can be found), no autosave into the served copy.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False, "disclaimed": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "kernelShutdown": True},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/lsp-extension/plugin": {"activate": "off"},
}


def chromium_available() -> bool:
    """True when Debian's Chromium (or ``$RLHF_LITE_CHROMIUM``) is an executable file."""
    return os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)


def launch_chromium(playwright):
    """Launch headless Chromium through Playwright with the flags this closed network needs."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def require_notebook(name: str) -> Path:
    """In a test: skip while ``notebooks/<name>`` has not been written yet; once it exists the test runs."""
    import pytest

    path = NOTEBOOKS / name
    if not path.exists():
        pytest.skip(f"notebooks/{name} does not exist yet (the test runs as soon as it lands)")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """A JupyterLab server in its own sandbox folder ``root``.

    ``root/home`` is HOME, ``root/jupyter/*`` the Jupyter folders, ``root/notebooks`` the served copy of the
    notebooks, ``root/jupyterlab.log`` the server's (and kernels') stdout and stderr.
    """

    def __init__(
        self,
        root: Path,
        *,
        notebooks: Path = NOTEBOOKS,
        env: dict[str, str] | None = None,
        startup_timeout: float = 90.0,
    ):
        self.root = Path(root)
        self.notebooks_src = Path(notebooks)
        self.extra_env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.token = token_hex(16)
        self.proc: subprocess.Popen | None = None
        self.log_path = self.root / "jupyterlab.log"
        self.notebook_dir = self.root / "notebooks"

    # -- lifecycle -------------------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        """The server's environment; kernels inherit it."""
        home = self.root / "home"
        jup = self.root / "jupyter"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("JUPYTER", "JPY_", "MPLBACKEND", "IPYTHONDIR", "RLHF_LITE_HEADLESS"))
        }
        env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_CACHE_HOME=str(home / ".cache"),
            XDG_DATA_HOME=str(home / ".local" / "share"),
            IPYTHONDIR=str(home / ".ipython"),
            MPLCONFIGDIR=str(home / ".config" / "matplotlib"),
            JUPYTER_CONFIG_DIR=str(jup / "config"),
            JUPYTER_DATA_DIR=str(jup / "data"),
            JUPYTER_RUNTIME_DIR=str(jup / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(jup / "lab-settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(jup / "lab-workspaces"),
            JUPYTER_PLATFORM_DIRS="0",
            PYTHONNOUSERSITE="1",
            RLHF_LITE_FAST="1",
            SDL_VIDEODRIVER="dummy",
            PYTHONUNBUFFERED="1",
        )
        # pyenv shims find their Python through PYENV_ROOT, which defaults to $HOME/.pyenv: keep the real one.
        real_pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
        if real_pyenv.is_dir():
            env["PYENV_ROOT"] = str(real_pyenv)
        env.update(self.extra_env)
        return env

    def _write_settings(self) -> None:
        settings = self.root / "jupyter" / "lab-settings"
        for plugin, values in LAB_SETTINGS.items():
            path = settings / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values, indent=1))

    def start(self) -> LabServer:
        """Copy the notebooks, write settings, start ``jupyter lab`` and wait until its API answers."""
        self.root.mkdir(parents=True, exist_ok=True)
        for sub in ("home", "jupyter/config", "jupyter/data", "jupyter/runtime", "jupyter/lab-workspaces"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._write_settings()
        if self.notebook_dir.exists():
            shutil.rmtree(self.notebook_dir)
        if self.notebooks_src.is_dir():
            shutil.copytree(
                self.notebooks_src,
                self.notebook_dir,
                ignore=shutil.ignore_patterns(".ipynb_checkpoints", "runs", "__pycache__"),
            )
        else:
            self.notebook_dir.mkdir(parents=True)
        cmd = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.notebook_dir}",
            "--ServerApp.open_browser=False",
            "--ServerApp.disable_check_xsrf=False",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: open and close tabs without a reload
            "--ServerApp.log_level=INFO",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # CI containers run as root
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.notebook_dir,
            env=self.environment(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"jupyter lab exited with {self.proc.returncode}; log: {self.log_path}\n" + self.log_tail()
                )
            try:
                self.api("GET", "api/status")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(
            f"jupyter lab did not answer within {self.startup_timeout:.0f} s; log: {self.log_path}\n" + self.log_tail()
        )

    def stop(self) -> None:
        """Shut the server down (kernels included): SIGTERM, then SIGKILL of its process group."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.shutdown_kernels()
            except Exception:
                pass
            try:
                os.killpg(self.proc.pid, 15)
                self.proc.wait(timeout=15)
            except Exception:
                try:
                    os.killpg(self.proc.pid, 9)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self._log.close()
        self.proc = None

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- REST --------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def url(self, path: str = "lab", **query: str) -> str:
        """An address on the server carrying the token (the first visit logs the browser in)."""
        q = "&".join([f"token={self.token}"] + [f"{k}={v}" if v else k for k, v in query.items()])
        return f"{self.base_url}{path}?{q}"

    def api(self, method: str, path: str, body: dict | None = None):
        req = urllib.request.Request(
            self.base_url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def kernels(self) -> list[dict]:
        return self.api("GET", "api/kernels")

    def shutdown_kernels(self) -> None:
        """Shut every kernel down, so that each test starts with one fresh kernel."""
        for session in self.api("GET", "api/sessions"):
            self.api("DELETE", f"api/sessions/{session['id']}")
        for k in self.kernels():
            self.api("DELETE", f"api/kernels/{k['id']}")

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0


class Lab:
    """A person's hands on JupyterLab: a Playwright ``page`` logged into ``server``."""

    def __init__(self, page, server: LabServer):
        self.page = page
        self.server = server
        self.steps: list[tuple[str, float]] = []  # (step, seconds) of the slow steps, for reports

    def _timed(self, name: str, started: float) -> None:
        self.steps.append((name, round(time.monotonic() - started, 2)))

    # -- notebooks ----------------------------------------------------------------------------------------
    def open_notebook(self, name: str, timeout: float = 90.0) -> None:
        """Open ``name`` (relative to the served folder) and wait for its kernel to be idle.

        The first call loads JupyterLab with a fresh workspace (``?reset``); later calls open the file inside
        the running app (``docmanager:open``, as a double-click in the file browser does), which saves
        reloading JupyterLab for every test."""
        started = time.monotonic()
        if self.app_loaded():
            self.page.evaluate("(path) => window.jupyterapp.commands.execute('docmanager:open', {path})", name)
        else:
            self.page.goto(self.server.url(f"lab/tree/{name}", reset=""), wait_until="domcontentloaded")
        self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first.wait_for(
            state="visible", timeout=timeout * 1000
        )
        self.page.wait_for_function(
            """(name) => { const t = document.querySelector('.lm-DockPanel-tabBar .lm-mod-current');
                           return t && t.textContent.includes(name); }""",
            arg=name,
            timeout=timeout * 1000,
        )
        self.dismiss_dialogs()
        self.wait_kernel_idle(timeout=timeout, settle=0.3)
        self._timed(f"open {name}", started)

    def app_loaded(self) -> bool:
        """True when this page runs JupyterLab (started and exposed as ``window.jupyterapp``)."""
        try:
            return bool(self.page.evaluate("() => !!(window.jupyterapp && window.jupyterapp.shell)"))
        except Exception:
            return False

    def close_all(self) -> None:
        """Close every tab of the main area without saving (the served notebooks are throwaway copies)."""
        if not self.app_loaded():
            return
        self.page.evaluate(
            """async () => {
                const app = window.jupyterapp;
                for (const w of [...app.shell.widgets('main')]) {
                    if (w.context && w.context.model) w.context.model.dirty = false;
                    w.dispose();
                }
            }"""
        )
        self.dismiss_dialogs()

    @property
    def panel(self):
        """The notebook panel on screen."""
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").first

    def dismiss_dialogs(self) -> None:
        """Accept a dialog if one is open (e.g. kernel selection); the default kernel is the right one."""
        dialog = self.page.locator(".jp-Dialog")
        if dialog.count():
            dialog.locator("button.jp-mod-accept").first.click()
            dialog.first.wait_for(state="detached", timeout=10_000)

    def menu(self, top: str, label: str) -> None:
        """Click menu bar ``top`` (e.g. "Run"), then the item labelled ``label`` (e.g. "Run All Cells");
        a trailing ellipsis in the label is ignored. Labels are what a person reads, and they have been
        stabler across JupyterLab 4.x than the command ids behind them."""
        self.page.keyboard.press("Escape")
        self.page.locator(".lm-MenuBar-item", has_text=top).first.click()
        menu = self.page.locator(".lm-Menu").last
        menu.wait_for(state="visible", timeout=10_000)
        labels = menu.locator(".lm-Menu-itemLabel")
        texts = [t.strip().rstrip("….").strip() for t in labels.all_inner_texts()]
        if label not in texts:
            self.page.keyboard.press("Escape")
            raise LookupError(f"no menu item {top} > {label!r}; items: {texts}")
        labels.nth(texts.index(label)).click()

    def run_all(self, timeout: float = 240.0) -> None:
        """Run > Run All Cells, then wait until every cell has run and the kernel is idle."""
        started = time.monotonic()
        self.menu("Run", "Run All Cells")
        self._wait_started()
        self.wait_kernel_idle(timeout=timeout)
        self._timed("run all", started)

    def _wait_started(self, timeout: float = 5.0) -> None:
        """After a run command: wait (briefly) until a cell shows ``[*]`` or the kernel is busy, so that an
        idle kernel seen *before* the run is not taken for the end of it. Fast cells may finish unseen,
        hence the short timeout rather than an error."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._busy_reason():
                return
            time.sleep(0.02)

    def _busy_reason(self) -> str:
        """'' when the open notebook's kernel is idle and no cell is queued or running, else why not."""
        return self.page.evaluate(
            """() => {
                const panel = [...document.querySelectorAll('.jp-NotebookPanel')]
                    .find(p => !p.classList.contains('lm-mod-hidden'));
                if (!panel) return 'no notebook panel';
                const name = panel.querySelector('.jp-Toolbar-kernelName');
                if (!name || /no kernel/i.test(name.textContent)) return 'no kernel yet';
                const ind = panel.querySelector('.jp-Notebook-ExecutionIndicator');
                const status = ind ? ind.getAttribute('data-status') : 'missing';
                const running = [...panel.querySelectorAll('.jp-InputPrompt')]
                    .filter(p => p.textContent.includes('*')).length;
                if (status !== 'idle') return 'kernel ' + status;
                if (running) return running + ' cells queued or running';
                return '';
            }"""
        )

    def restart_kernel(self, run_all: bool = False, timeout: float = 240.0) -> None:
        """Kernel > Restart Kernel (and Run All Cells), accepting the confirmation dialog."""
        started = time.monotonic()
        self.menu("Kernel", "Restart Kernel and Run All Cells" if run_all else "Restart Kernel")
        dialog = self.page.locator(".jp-Dialog")
        dialog.locator("button.jp-mod-accept").first.click(timeout=10_000)
        dialog.first.wait_for(state="detached", timeout=10_000)
        self._wait_started()  # the kernel goes through "restarting" before it is idle again
        self.wait_kernel_idle(timeout=timeout)
        self._timed("restart kernel" + (" and run all" if run_all else ""), started)

    def wait_kernel_idle(self, timeout: float = 240.0, settle: float = 0.5) -> None:
        """Wait until the notebook's execution indicator says idle and no cell prompt shows ``[*]``,
        and it stays so for ``settle`` seconds (run-all queues cells; the kernel is idle between some)."""
        deadline = time.monotonic() + timeout
        calm_since = None
        busy = "not checked"
        while time.monotonic() < deadline:
            busy = self._busy_reason()
            if busy:
                calm_since = None
            elif calm_since is None:
                calm_since = time.monotonic()
            elif time.monotonic() - calm_since >= settle:
                return
            time.sleep(0.1)
        raise TimeoutError(f"kernel not idle after {timeout:.0f} s ({busy})")

    def errors(self) -> list[str]:
        """Texts of the error outputs (tracebacks) in the open notebook."""
        return self.panel.locator(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]'
        ).all_inner_texts()

    def outputs_text(self) -> str:
        """All output text of the open notebook, joined (for assertions and failure messages)."""
        return "\n".join(self.panel.locator(".jp-OutputArea-output").all_inner_texts())

    # -- widgets ------------------------------------------------------------------------------------------
    def widget(self, dom_class: str):
        """The (last, i.e. most recently displayed) element carrying DOM class ``dom_class``."""
        return self.panel.locator(f".{dom_class}").last

    def click(self, dom_class: str, timeout: float = 10.0) -> None:
        """Click the widget with ``dom_class`` once it is visible and enabled."""
        el = self.widget(dom_class)
        el.scroll_into_view_if_needed(timeout=timeout * 1000)
        el.click(timeout=timeout * 1000)

    def text(self, dom_class: str) -> str:
        """The visible text of the widget with ``dom_class`` (value for text inputs/labels)."""
        el = self.widget(dom_class)
        return el.inner_text().strip()

    def wait_text(self, dom_class: str, predicate, timeout: float = 30.0) -> str:
        """Poll the text of ``dom_class`` until ``predicate(text)`` holds; return it."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            loc = self.panel.locator(f".{dom_class}")
            if loc.count():
                last = loc.last.inner_text().strip()
                if predicate(last):
                    return last
            time.sleep(0.05)
        raise TimeoutError(f".{dom_class} text never matched; last text: {last!r}")

    # -- the labeling widget -----------------------------------------------------------------------------
    def labeler(self):
        """The (last) ``WidgetLabeler`` on screen."""
        return self.panel.locator(".rlhf-labeler").last

    def wait_pair(self, predicate=lambda text: text.startswith("pair #"), timeout: float = 60.0) -> str:
        """Wait until the labeler shows a pair (its "pair #N" text satisfies ``predicate``) with both clips
        loaded in the browser; return the pair text."""
        self.wait_text("rlhf-pair", predicate, timeout=timeout)
        self.labeler().locator(".rlhf-clip-left").wait_for(state="visible", timeout=timeout * 1000)
        self.page.wait_for_function(
            """(root) => ['.rlhf-clip-left', '.rlhf-clip-right'].every(c => {
                   const img = root.querySelector(c); return img && img.complete && img.naturalWidth > 0; })""",
            arg=self.labeler().element_handle(),
            timeout=timeout * 1000,
        )
        return self.labeler().locator(".rlhf-pair").inner_text().strip()

    def click_answer(self, dom_class: str, timeout: float = 30.0) -> float:
        return self.click_answer_timed(dom_class, timeout)["total_ms"]

    def click_answer_timed(self, dom_class: str, timeout: float = 30.0) -> dict:
        """Click a labeler button (``rlhf-left``, ``rlhf-undo``, ...) the way a person does and wait until the
        NEXT pair is on screen: its "pair #N" text changed and both clip images were replaced and decoded,
        then one animation frame painted. Returns milliseconds from the click event to that frame, measured
        by the page's own clock (``performance.now``), so Playwright's round trips do not count.
        ``click_answer_timed`` also gives when the pair text changed (``text_ms``) and when both clip
        sources were replaced (``clips_ms``), to see where the time goes."""
        root = self.labeler()
        button = root.locator(f".{dom_class}")
        button.wait_for(state="visible", timeout=timeout * 1000)
        self.page.wait_for_function("(b) => !b.disabled", arg=button.element_handle(), timeout=timeout * 1000)
        root.evaluate(
            """(root, cls) => {
                const pair = root.querySelector('.rlhf-pair');
                const L = root.querySelector('.rlhf-clip-left'), R = root.querySelector('.rlhf-clip-right');
                const lat = {t0: null, t1: null, old: pair.textContent, oldL: L.src, oldR: R.src};
                window.__rlhfLatency = lat;
                root.querySelector('.' + cls).addEventListener(
                    'click', () => { lat.t0 = performance.now(); }, {capture: true, once: true});
                let done = false;
                const check = () => {
                    if (done || lat.t0 === null) return;
                    const p = root.querySelector('.rlhf-pair'), l = root.querySelector('.rlhf-clip-left'),
                          r = root.querySelector('.rlhf-clip-right');
                    if (lat.tText === undefined && p.textContent !== lat.old) lat.tText = performance.now();
                    if (lat.tClips === undefined && l.src !== lat.oldL && r.src !== lat.oldR)
                        lat.tClips = performance.now();
                    const ready = p.textContent !== lat.old && p.textContent.startsWith('pair #')
                        && l.src !== lat.oldL && r.src !== lat.oldR
                        && l.complete && r.complete && l.naturalWidth > 0 && r.naturalWidth > 0;
                    if (!ready) return;
                    done = true;
                    obs.disconnect();
                    requestAnimationFrame(() => { lat.t1 = performance.now(); lat.pair = p.textContent; });
                };
                const obs = new MutationObserver(check);
                obs.observe(root, {subtree: true, childList: true, attributes: true, characterData: true});
                for (const img of [root.querySelector('.rlhf-clip-left'), root.querySelector('.rlhf-clip-right')])
                    img.addEventListener('load', check);
                lat.poll = setInterval(() => { check(); if (done) clearInterval(lat.poll); }, 5);
            }""",
            dom_class,
        )
        button.click(timeout=timeout * 1000)
        self.page.wait_for_function(
            "() => window.__rlhfLatency && window.__rlhfLatency.t1 !== null", timeout=timeout * 1000
        )
        lat = self.page.evaluate("() => { const l = window.__rlhfLatency; clearInterval(l.poll); return l; }")
        t0 = lat["t0"]
        return {
            "total_ms": float(lat["t1"] - t0),
            "text_ms": float(lat.get("tText", lat["t1"]) - t0),
            "clips_ms": float(lat.get("tClips", lat["t1"]) - t0),
            "pair": lat.get("pair"),
        }

    def clip_fingerprints(self, dom_class: str, samples: int = 6, interval: float = 0.2) -> list[str]:
        """Hashes of screenshots of the clip ``dom_class`` taken ``interval`` seconds apart: what a person
        sees. A playing clip gives several different hashes, a frozen one a single hash."""
        import hashlib

        el = self.labeler().locator(f".{dom_class}")
        el.scroll_into_view_if_needed()
        out = []
        for _ in range(samples):
            out.append(hashlib.sha1(el.screenshot(animations="allow")).hexdigest())
            time.sleep(interval)
        return out

    def run_cell(self, index: int, timeout: float = 240.0) -> str:
        """Select code or markdown cell ``index`` (0-based) by clicking its prompt, press Shift+Enter as a
        person does, wait for the kernel to be idle; return the cell's output text."""
        return self._run(self.panel.locator(".jp-Notebook .jp-Cell").nth(index), timeout)

    def run_cell_containing(self, text: str, timeout: float = 240.0) -> str:
        """Like :meth:`run_cell`, for the (first) code cell whose source contains ``text``."""
        # The editor only renders the lines on screen, so the source is read from the notebook's model.
        index = self.page.evaluate(
            """(text) => {
                const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
                for (let i = 0; i < cells.length; i++) {
                    const cell = cells.get(i);
                    if (cell.type === 'code' && cell.sharedModel.getSource().includes(text)) return i;
                }
                return -1;
            }""",
            text,
        )
        if index < 0:
            raise LookupError(f"no code cell contains {text!r}")
        return self.run_cell(index, timeout)

    def _run(self, cell, timeout: float) -> str:
        cell.scroll_into_view_if_needed()
        cell.locator(".jp-InputPrompt").first.click()
        self.page.keyboard.press("Escape")  # command mode: Shift+Enter runs the selected cell
        self.page.keyboard.press("Shift+Enter")
        self._wait_started()
        self.wait_kernel_idle(timeout=timeout)
        return "\n".join(cell.locator(".jp-OutputArea-output").all_inner_texts())


SCREENSHOTS_ENV = "RLHF_LITE_SCREENSHOTS"


def snapshot(lab: Lab, name: str, dom_class: str | None = None) -> Path | None:
    """Save a screenshot named ``name``.png of the widget with ``dom_class`` (default: the whole page) into the
    folder ``$RLHF_LITE_SCREENSHOTS``, for a person to look at what a test saw; nothing when it is unset."""
    folder = os.environ.get(SCREENSHOTS_ENV)
    if not folder:
        return None
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    if dom_class is None:
        lab.page.screenshot(path=str(path), full_page=False)
    else:
        el = lab.widget(dom_class)
        el.scroll_into_view_if_needed()
        el.screenshot(path=str(path), animations="allow")
    return path


def clip_state(lab: Lab) -> dict:
    """What the labeler's clip places show: their ``src`` and whether they carry ``rlhf-clip-empty``, and the
    left clip's height on screen in CSS pixels."""
    return lab.labeler().evaluate(
        """(root) => {
            const l = root.querySelector('.rlhf-clip-left'), r = root.querySelector('.rlhf-clip-right');
            const empty = l.classList.contains('rlhf-clip-empty') && r.classList.contains('rlhf-clip-empty');
            return {left: l.src, right: r.src, height: l.getBoundingClientRect().height, empty};
        }"""
    )


def assert_clips_play_side_by_side(lab: Lab, samples: int = 6, interval: float = 0.2) -> None:
    """The labeler's two clips are on screen, left of each other at the same height, and both play: several
    different pictures in ``samples`` screenshots taken ``interval`` seconds apart (a frozen clip gives one)."""
    root = lab.labeler()
    root.locator(".rlhf-clip-left").scroll_into_view_if_needed()
    left = root.locator(".rlhf-clip-left").bounding_box()
    right = root.locator(".rlhf-clip-right").bounding_box()
    assert left and right, "a clip is not on screen"
    assert left["width"] > 50 and left["height"] > 50, f"left clip too small: {left}"
    assert right["width"] > 50 and right["height"] > 50, f"right clip too small: {right}"
    assert left["x"] + left["width"] <= right["x"], f"left clip {left} is not left of the right clip {right}"
    overlap = min(left["y"] + left["height"], right["y"] + right["height"]) - max(left["y"], right["y"])
    assert overlap > 0.8 * min(left["height"], right["height"]), f"clips not side by side: {left} {right}"
    assert right["x"] + right["width"] <= lab.page.viewport_size["width"], "the right clip runs off the screen"
    for side in ("rlhf-clip-left", "rlhf-clip-right"):
        shots = lab.clip_fingerprints(side, samples=samples, interval=interval)
        assert len(set(shots)) >= 3, (
            f"{side} does not play: {len(set(shots))} distinct pictures in {samples} screenshots"
        )
