#!/usr/bin/env bash
# The project's one test command (README "Run the tests"; .ci/run calls exactly this).
# Installs what the tests need -- Python packages, and Debian's Chromium for the browser suite -- then checks
# lint and format with ruff, then runs every test: unit tests, smoke runs, every notebook in fast mode, and
# JupyterLab driven in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -r requirements.txt -e ".[test]"
# Lint and format first (ruff, configured in pyproject.toml): a violation fails the run before any test starts.
lint=0
python3 -m ruff check . || lint=1
python3 -m ruff format --check . || lint=1
if [ "$lint" -ne 0 ]; then
    echo "tests/run.sh: ruff found the violations above. Fix them with" >&2
    echo "    python -m ruff check --fix . && python -m ruff format ." >&2
    echo "then fix by hand what 'python -m ruff check .' still reports." >&2
    exit 1
fi
bash tests/install_browser.sh
export SDL_VIDEODRIVER=dummy
# Two workers, one test file each at a time (--dist loadfile keeps a module's fixtures in one process).
python3 -m pytest -n 2 --dist loadfile "$@"
