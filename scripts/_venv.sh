# Sourced by the scripts: make .venv with Python 3.11+ and install the project into it,
# again only when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Callsource needs Python 3.11 or newer as '$PYTHON' (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi
extra="${1:-}"
stamp=".venv/.installed${extra:+-$extra}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".${extra:+[$extra]}"
    touch "$stamp"
fi
