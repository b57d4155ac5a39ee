#!/usr/bin/env bash
# The project's one test command (README "Run the tests"; .ci/run calls exactly this).
# Installs what the tests need -- Python packages, and Debian's Chromium for the browser suite -- then runs
# every test: unit tests, smoke runs, every notebook in fast mode, and JupyterLab driven in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -r requirements.txt -e ".[test]"
bash tests/install_browser.sh
export SDL_VIDEODRIVER=dummy
python3 -m pytest "$@"
