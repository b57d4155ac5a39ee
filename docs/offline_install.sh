#!/usr/bin/env bash
# The workshop's offline install (docs/facilitator.md, "Before the day").
#
#   bash docs/offline_install.sh gather  WHEELHOUSE   # on a connected machine: every wheel the lessons need
#   bash docs/offline_install.sh install WHEELHOUSE   # on each laptop, no network: install from that folder
#
# Run both from anywhere; they use the repository this script sits in. "install" installs into the Python that
# `python3` is (activate the virtual environment first). The wheelhouse must be gathered for the participants'
# platform: the same OS, CPU and Python minor version (3.11) as the laptops, or see PIP_DOWNLOAD_ARGS below.
#
# Environment:
#   TORCH_INDEX_URL    where the CPU build of torch comes from when gathering (default: PyTorch's CPU index;
#                      PyPI's Linux torch is the multi-GB CUDA build). Set it empty to use only pip's own indexes.
#   PIP_DOWNLOAD_ARGS  extra arguments for `pip download`, e.g. "--platform win_amd64 --python-version 3.11"
#                      to gather for Windows laptops from a Linux machine.
#   PYTHON             the interpreter to use (default python3).
set -euo pipefail

usage() { sed -n '2,6p' "$0" >&2; exit 2; }
[ $# -eq 2 ] || usage
command=$1
wheelhouse=$(mkdir -p "$2" && cd "$2" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
cd "$root"

case "$command" in
gather)
    torch_index=${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}
    # shellcheck disable=SC2086 # PIP_DOWNLOAD_ARGS is meant to split into arguments
    "$python" -m pip download --only-binary=:all: --dest "$wheelhouse" -r requirements.txt \
        ${torch_index:+--extra-index-url "$torch_index"} ${PIP_DOWNLOAD_ARGS:-}
    # `-e .` in requirements.txt is built on the laptop: its build backend (pyproject.toml) must be there too
    # shellcheck disable=SC2086
    "$python" -m pip download --only-binary=:all: --dest "$wheelhouse" "setuptools>=68" wheel ${PIP_DOWNLOAD_ARGS:-}
    rm -f "$wheelhouse"/rlhf-lite-*.zip "$wheelhouse"/rlhf_lite-*.zip  # a snapshot of this repo: the laptop has its own
    echo "wheelhouse $wheelhouse: $(find "$wheelhouse" -name '*.whl' | wc -l) wheels, $(du -sh "$wheelhouse" | cut -f1)"
    ;;
install)
    # --no-index: never ask a package index, only the folder (also for the build of `-e .`)
    "$python" -m pip install --no-index --find-links "$wheelhouse" -r requirements.txt
    "$python" -c "import rlhf_lite, torch, gymnasium, ipywidgets, jupyterlab
print('ready: rlhf_lite', rlhf_lite.__version__, 'torch', torch.__version__)"
    ;;
*)
    usage
    ;;
esac
