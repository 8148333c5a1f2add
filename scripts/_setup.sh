# Shared setup for scripts/build_book.sh and scripts/test.sh. Source it, do not run it:
#     source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh"
# It moves to the repository root, creates .venv on first use (python3.11, else python3),
# activates it, and installs the pinned requirements plus the linclip package (editable).

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

if [ ! -x .venv/bin/python ]; then
    if command -v python3.11 >/dev/null 2>&1; then
        PYTHON_FOR_VENV=python3.11
    else
        PYTHON_FOR_VENV=python3
        echo "note: python3.11 not found; creating .venv with $(python3 --version 2>&1)" >&2
    fi
    echo "==> Creating virtual environment .venv with $PYTHON_FOR_VENV"
    "$PYTHON_FOR_VENV" -m venv .venv
fi

# shellcheck disable=SC1091
. .venv/bin/activate

echo "==> Installing pinned requirements (requirements.txt)"
python -m pip install --quiet --disable-pip-version-check -r requirements.txt
echo "==> Installing linclip from src/ (editable, no dependencies)"
python -m pip install --quiet --disable-pip-version-check --no-deps -e .
