#!/usr/bin/env bash
# Installs what the browser suite (tests/browser, issue 5) needs on a fresh Debian machine: Debian's Chromium
# at /usr/bin/chromium, driven by Python Playwright (pip installs Playwright; its own browser download does not
# work here, so we never call `playwright install`). Safe to run again: does nothing when Chromium is there.
# Never fails the caller: if Chromium cannot be installed it says so loudly, and the suite then skips
# (or fails, when CI is set) with the same reason.
set -uo pipefail

CHROMIUM="${RLHF_LITE_CHROMIUM:-/usr/bin/chromium}"

loud() {
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
    echo "!!! $*" >&2
    echo "!!! The browser tests (tests/browser) will be SKIPPED, or FAIL when CI is set." >&2
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
}

if [ -x "$CHROMIUM" ]; then
    echo "install_browser: Chromium present: $("$CHROMIUM" --version 2>/dev/null | head -n1)"
    exit 0
fi

if [ "$(id -u)" != "0" ]; then
    loud "Chromium is missing at $CHROMIUM and this is not root: run 'sudo apt-get install -y chromium'."
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    loud "Chromium is missing at $CHROMIUM and apt-get is not available: install Chromium by hand and set RLHF_LITE_CHROMIUM to its path."
    exit 0
fi

echo "install_browser: installing Debian's chromium with apt-get (a few minutes on a fresh machine)"
export DEBIAN_FRONTEND=noninteractive
if apt-get update -q && apt-get install -y -q chromium; then
    if [ -x "$CHROMIUM" ]; then
        echo "install_browser: Chromium installed: $("$CHROMIUM" --version 2>/dev/null | head -n1)"
        exit 0
    fi
fi
loud "apt-get could not install chromium (offline? no such package?); see the messages above."
exit 0
