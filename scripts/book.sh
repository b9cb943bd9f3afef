#!/usr/bin/env bash
# Builds the course book (lessons/book/) and checks it: mdBook must print no
# warning, and every link, image and #fragment in the built pages must
# resolve (scripts/check_book_links.py).
#
#   scripts/book.sh            # needs mdbook and mdbook-mermaid on PATH:
#                              # cargo install --locked mdbook@0.5.0 mdbook-mermaid@0.17.1
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in mdbook mdbook-mermaid; do
    command -v "$tool" >/dev/null || { echo "book.sh: $tool is not installed (cargo install --locked $tool)" >&2; exit 1; }
done
LOG=$(mktemp)
mdbook build lessons 2>&1 | tee "$LOG"
if grep -Eiq '(^|[^a-z])(warn|warning|error)([^a-z]|$)' "$LOG"; then
    echo "book.sh: mdbook printed a warning or an error (above)" >&2
    exit 1
fi
python3 scripts/check_book_links.py lessons/book
