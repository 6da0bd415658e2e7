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
}
