"""The offline install of docs/facilitator.md really works: gather a wheelhouse, install from it with every index
switched off into a fresh virtual environment, and run lesson 00 there headless in fast mode.

Gathering uses this machine's pip configuration (the "connected machine": its indexes or the internet). The
install then runs with ``PIP_CONFIG_FILE=/dev/null`` and every ``PIP_*`` index variable removed, plus
``--no-index`` in the script, so only the wheelhouse can supply packages. The repository is copied first, so the
editable install of ``-e .`` writes nothing into the work tree. Prints one JSON line with the figures (wheelhouse
size, gather and install seconds, lesson 00's result); run with ``-s`` to see it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "offline_install.sh"
# The lesson runs in the new venv with tests/nbrun.py's client (loaded by path: the copy has no tests/), whose short
# polling slices cut short the lost wake-up stall of issue 11.
NBRUN = ROOT / "tests" / "nbrun.py"
RUN_LESSON = r"""
import importlib.util, json, sys, time
import nbformat
spec = importlib.util.spec_from_file_location("nbrun", sys.argv[4])
nbrun = sys.modules["nbrun"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(nbrun)
path, prefix = sys.argv[1], sys.argv[2]
nb = nbformat.read(path, as_version=4)
nb.cells.append(nbformat.v4.new_code_cell("import sys; print('KERNEL PREFIX', sys.prefix)"))
start = time.perf_counter()
client = nbrun.PollingNotebookClient(nb, timeout=300, kernel_name="python3", name="00_start_here.ipynb",
                                     resources={"metadata": {"path": str(sys.argv[3])}})
client.execute()
errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
said = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
print(json.dumps({"seconds": round(time.perf_counter() - start, 1), "errors": len(errors),
                  "code_cells": sum(c.cell_type == "code" for c in nb.cells) - 1,
                  "kernel_in_new_venv": said.strip() == f"KERNEL PREFIX {prefix}",
                  "lost_wake_ups_rescued": len(client.lost_wake_ups)}))
"""


def _offline_env(venv: Path, home: Path) -> dict[str, str]:
    """An environment in which pip can only use the wheelhouse: no config file, no index variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV", "PYTHON", "JUPYTER"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        HOME=str(home),
        RLHF_LITE_FAST="1",
        RLHF_LITE_HEADLESS="1",
        SDL_VIDEODRIVER="dummy",
    )
    env.pop("MPLBACKEND", None)  # the kernel's inline backend draws the plots
    return env


def _copy_repo(dest: Path) -> None:
    for name in ("pyproject.toml", "requirements.txt", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "rlhf_lite", dest / "rlhf_lite", ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "docs").mkdir()
    shutil.copy2(SCRIPT, dest / "docs" / SCRIPT.name)
    (dest / "notebooks").mkdir()
    shutil.copy2(ROOT / "notebooks" / "00_start_here.ipynb", dest / "notebooks")


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="the install script is bash")
def test_offline_install_runs_lesson_00(tmp_path):
    repo, wheelhouse, venv, home = (tmp_path / n for n in ("repo", "wheelhouse", "venv", "home"))
    repo.mkdir()
    home.mkdir()
    _copy_repo(repo)
    figures: dict[str, object] = {}

    # 1. on the connected machine (this one, with its own pip configuration); the CPU torch comes from it too
    start = time.perf_counter()
    gather = subprocess.run(
        ["bash", str(repo / "docs" / SCRIPT.name), "gather", str(wheelhouse)],
        env={
            **os.environ,
            "TORCH_INDEX_URL": os.environ.get("RLHF_LITE_TORCH_INDEX_URL", ""),
            "PYTHON": sys.executable,
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert gather.returncode == 0, f"gather failed:\n{gather.stdout[-3000:]}\n{gather.stderr[-3000:]}"
    figures["gather_s"] = round(time.perf_counter() - start, 1)
    wheels = sorted(p.name for p in wheelhouse.iterdir())
    assert any(w.startswith("torch-") for w in wheels) and any(w.startswith("setuptools-") for w in wheels)
    assert all(w.endswith(".whl") for w in wheels), [w for w in wheels if not w.endswith(".whl")]
    figures["wheels"] = len(wheels)
    figures["wheelhouse_mb"] = round(sum(p.stat().st_size for p in wheelhouse.iterdir()) / 2**20, 1)

    # 2. on a laptop with no network: a fresh venv, then the one install command with every index off
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = _offline_env(venv, home)
    start = time.perf_counter()
    install = subprocess.run(
        ["bash", str(repo / "docs" / SCRIPT.name), "install", str(wheelhouse)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, f"offline install failed:\n{install.stdout[-3000:]}\n{install.stderr[-3000:]}"
    figures["install_s"] = round(time.perf_counter() - start, 1)
    assert "ready: rlhf_lite" in install.stdout
    assert "Looking in indexes" not in install.stdout  # pip was never told of an index

    # negative control: in this environment pip cannot fetch anything that is not in the wheelhouse
    missing = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--dry-run", "pytest"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode != 0 and "No matching distribution" in missing.stderr + missing.stdout, missing

    # the package in the new venv is the copy's (editable), not the work tree's
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import rlhf_lite; print(rlhf_lite.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=home,
    )
    assert where.stdout.strip().startswith(str(repo)), where

    # 3. lesson 00 there, headless, fast mode, in a kernel of the new venv
    lesson = repo / "notebooks" / "00_start_here.ipynb"
    run = subprocess.run(
        [str(venv / "bin" / "python"), "-c", RUN_LESSON, str(lesson), str(venv), str(lesson.parent), str(NBRUN)],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        cwd=home,
    )
    assert run.returncode == 0, f"lesson 00 failed in the offline venv:\n{run.stdout[-3000:]}\n{run.stderr[-4000:]}"
    result = json.loads(run.stdout.strip().splitlines()[-1])
    figures["lesson_00"] = result
    print("\n" + json.dumps({"what": "offline install", **figures}))
    assert result["errors"] == 0 and result["kernel_in_new_venv"], result
    for big in (venv, wheelhouse, home):  # about 1.6 GB: pytest would keep it for three runs
        shutil.rmtree(big, ignore_errors=True)
