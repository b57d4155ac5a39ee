"""Fixtures for the browser suite: one JupyterLab server and one headless Chromium per session, a fresh page
(and, after the test, no kernel left running) per test.

Where no browser can be had (no ``/usr/bin/chromium``, or Playwright not importable) every browser test is
skipped with a loud reason -- and FAILS instead when the environment variable ``CI`` is set, so CI never
passes without having clicked anything. ``tests/install_browser.sh`` installs Debian's Chromium.

On a failing test, a screenshot, the page's console messages and the JupyterLab log are saved in the test's
tmp folder and their paths printed in the failure report (section "browser artifacts").
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from jlab import CHROMIUM, Lab, LabServer, chromium_available, launch_chromium  # noqa: E402

HERE = Path(__file__).resolve().parent
_NOT_RUN: list[str] = []  # reasons the suite could not run, for the loud terminal summary


def _missing_browser() -> str | None:
    """Why the browser suite cannot run here, or None."""
    if not chromium_available():
        return (
            f"Chromium not found at {CHROMIUM}: run `bash tests/install_browser.sh` as root "
            "(apt-get install chromium). Browser tests did NOT run."
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"Python Playwright is not importable ({exc}): pip install playwright. Browser tests did NOT run."
    return None


def require_browser() -> None:
    """Skip loudly (or fail under CI) when no browser can be had."""
    reason = _missing_browser()
    if reason is None:
        return
    _NOT_RUN.append(reason)
    if os.environ.get("CI"):
        pytest.fail("CI is set and the browser suite cannot run: " + reason, pytrace=False)
    pytest.skip("!!! BROWSER SUITE SKIPPED !!! " + reason)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _NOT_RUN:
        bar = "!" * 100
        terminalreporter.write_line(bar, red=True, bold=True)
        terminalreporter.write_line("BROWSER SUITE DID NOT RUN: " + _NOT_RUN[0], red=True, bold=True)
        terminalreporter.write_line(bar, red=True, bold=True)


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    """JupyterLab on 127.0.0.1 with a token, isolated folders, a temp copy of notebooks/ and fast mode for
    kernels. ``RLHF_LITE_HEADLESS`` is removed, not set: the widgets must find the page by themselves
    (``rlhf_lite.widgets.headless_reason``) and wait for real clicks."""
    require_browser()
    server = LabServer(tmp_path_factory.mktemp("jupyterlab"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def _lab_session(lab_server, browser):
    """One browser page for the whole session: JupyterLab loads once, tests open notebooks inside it."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    helper = Lab(page, lab_server)
    helper.console = []
    page.on("console", lambda msg: helper.console.append(f"[{msg.type}] {msg.text}"))
    page.on("pageerror", lambda exc: helper.console.append(f"[pageerror] {exc}"))
    yield helper
    context.close()


@pytest.fixture
def lab(_lab_session, lab_server, tmp_path):
    """The session's JupyterLab page (a :class:`jlab.Lab`) with no notebook open and no kernel running.
    After the test its tabs are closed and every kernel is shut down, so each test starts with exactly one
    fresh kernel."""
    helper = _lab_session
    helper.steps = []
    helper.console.clear()
    helper.artifacts_dir = tmp_path
    helper.log_offset = lab_server.log_size()
    yield helper
    print("browser steps (seconds):", helper.steps)
    try:
        helper.close_all()
    except Exception as exc:  # a broken page: start the next test from a fresh load
        print(f"closing tabs failed ({exc}); the next test reloads JupyterLab")
        helper.page.goto("about:blank")
    finally:
        lab_server.shutdown_kernels()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed or call.when not in ("setup", "call"):
        return
    helper = item.funcargs.get("lab") if hasattr(item, "funcargs") else None
    if not isinstance(helper, Lab):
        return
    out = Path(helper.artifacts_dir)
    lines = []
    try:
        shot = out / f"screenshot-{call.when}.png"
        helper.page.screenshot(path=str(shot), full_page=True, timeout=15_000)
        lines.append(f"screenshot:      {shot}")
    except Exception as exc:  # the page may be gone; the log still helps
        lines.append(f"screenshot:      failed ({exc.__class__.__name__}: {exc})")
    try:
        log = out / "jupyterlab.log"
        shutil.copyfile(helper.server.log_path, log)
        lines.append(f"jupyterlab log:  {log} (this test's part starts at byte {helper.log_offset})")
    except OSError as exc:
        lines.append(f"jupyterlab log:  failed to copy ({exc})")
    console = out / "browser-console.log"
    console.write_text("\n".join(helper.console))
    lines.append(f"browser console: {console}")
    try:
        outputs = out / "notebook-outputs.txt"
        outputs.write_text(helper.outputs_text())
        lines.append(f"notebook output: {outputs}")
    except Exception:
        pass
    text = "\n".join(lines)
    report.sections.append(("browser artifacts", text))
    print("\n[browser artifacts]\n" + text, file=sys.stderr)
