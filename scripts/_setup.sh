# Shared set-up for scripts/run and scripts/test: sourced, not run.
# Creates .venv if it is missing and installs the project into it (with the extras given as arguments),
# reinstalling only when pyproject.toml changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"

# The working directory is left alone, so that relative paths given to the commands (--home ./h) mean what
# the user meant.
if [ ! -x "$VENV/bin/python" ]; then
    echo "sourdine: creating $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi

sourdine_install() {
    local extras="$1" stamp="$VENV/.sourdine-installed${1:+-$1}"
    if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
        echo "sourdine: installing dependencies into .venv" >&2
        local log; log="$(mktemp)"
        if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT${extras:+[$extras]}" >"$log" 2>&1; then
            grep -v "is ignored: it is neither a file nor a directory" "$log" >&2 || true
            rm -f "$log"
            echo "sourdine: installing dependencies failed" >&2
            exit 1
        fi
        rm -f "$log"
        touch "$stamp"
    fi
    # The package's bytecode, written now: where PYTHONDONTWRITEBYTECODE is set (this project's own machine sets
    # it), Python would otherwise compile Sourdine's modules again at every start (compileall redoes stale ones).
    "$VENV/bin/python" -m compileall -q "$ROOT/proxy/sourdine" || true
}

# Scoring and filtering compiled with mypyc (scripts/build-native), rebuilt only when the sources changed (about
# 20 s). Where they cannot be built (no C compiler, say), Sourdine runs as pure Python at about half the speed,
# and says so at start-up; with SOURDINE_NATIVE_BUILD=required (CI), a failed build stops the set-up instead.
native_build() {
    if ! "$VENV/bin/python" "$ROOT/scripts/build-native" --quiet; then
        if [ "${SOURDINE_NATIVE_BUILD:-}" = required ]; then
            echo "sourdine: scoring and filtering could not be compiled (SOURDINE_NATIVE_BUILD=required)" >&2
            exit 1
        fi
        echo "sourdine: scoring and filtering could not be compiled; Sourdine will run as pure Python" >&2
    fi
}

# The browser extension's tools (extension/package-lock.json: TypeScript, web-ext, playwright-core, Chart.js) and
# Debian's Chromium for its end-to-end test. Without node, npm or root, the extension's tests skip and say why.
extension_install() {
    local ext="$ROOT/extension" stamp="$ROOT/extension/node_modules/.sourdine-installed"
    if command -v npm >/dev/null 2>&1; then
        if [ ! -f "$stamp" ] || [ "$ext/package-lock.json" -nt "$stamp" ]; then
            echo "sourdine: installing the extension's npm packages (npm ci)" >&2
            if (cd "$ext" && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1); then
                touch "$stamp"
            else
                echo "sourdine: npm ci failed in extension/; its tests will skip" >&2
            fi
        fi
    else
        echo "sourdine: npm not found; the extension's tests will skip" >&2
    fi
    if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM:-}" ]; then
        debian_install chromium "the browser test"
    fi
}

# strace, for the test that traces each acknowledged write to the disk (tests/test_crash.py).
trace_install() {
    if ! command -v strace >/dev/null 2>&1; then
        debian_install strace "the power-cut test"
    fi
}

# debian_install PACKAGE WHAT: install Debian's PACKAGE (as root, with apt-get), which WHAT needs; WHAT skips
# when that cannot be done.
debian_install() {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "sourdine: installing Debian's $1 for $2" >&2
        local log; log="$(mktemp)"
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1"; } >"$log" 2>&1; then
            tail -5 "$log" >&2
            echo "sourdine: $1 could not be installed; $2 will skip" >&2
        fi
        rm -f "$log"
    else
        echo "sourdine: $1 is missing (apt-get install $1, as root); $2 will skip" >&2
    fi
}
