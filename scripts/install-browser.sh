#!/bin/sh
# The browser the viewer's tests drive. Debian's chromium where the machine has apt (as root, as CI
# runs); Playwright's own download elsewhere. Idempotent: does nothing when a browser is there.
set -eu
VENV="${1:-.venv}"
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing Debian's chromium for the browser tests"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >/dev/null
    exit 0
fi
echo "no system chromium: installing Playwright's browser build"
"$VENV/bin/python" -m playwright install chromium
