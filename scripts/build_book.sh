#!/usr/bin/env bash
# Build the book's HTML into _build/html (the README's main command).
# Notebooks are rendered from their committed outputs; nothing is executed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh"

echo "==> Building the book"
jupyter-book build . --path-output .

echo
echo "The book is at: $REPO_ROOT/_build/html/index.html"
