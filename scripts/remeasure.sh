#!/usr/bin/env bash
# Re-runs, on your machine, every `servercore compare` table quoted in the
# course: each line `$ cargo run --release -- compare ...` found in the
# chapters (lessons/*.md) and the README, in file order, once each (a
# command quoted twice runs twice). Prints where each command is quoted,
# then its output, so the numbers can be put next to the book's.
#
#   scripts/remeasure.sh                 # every table (about 10 minutes on 2 cores)
#   scripts/remeasure.sh 10-backpressure # only the commands whose file:line:text contains this
#   scripts/remeasure.sh --list          # only list the commands
#
# Absolute rates differ from machine to machine and from run to run: compare
# ratios within one table (lessons/measuring.md says why).
set -euo pipefail
cd "$(dirname "$0")/.."
FILTER=${1:-}
LIST=false
if [ "$FILTER" = "--list" ]; then LIST=true; FILTER=""; fi

# file:line:command, for every quoted compare command (a bare
# `cargo run --release` is `compare` with its defaults)
COMMANDS=$(grep -nE '^\$ cargo run --release( -- compare.*)?$' lessons/*.md README.md |
    grep -F -- "$FILTER" || true)
if [ -z "$COMMANDS" ]; then
    echo "no quoted compare command matches '$FILTER'" >&2
    exit 1
fi
if $LIST; then
    echo "$COMMANDS"
    exit 0
fi

cargo build --release --quiet
WORK=$(mktemp -d)
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
while IFS= read -r entry; do
    where=${entry%%:\$ *}
    args=${entry#*:\$ cargo run --release}
    args=${args# -- }
    [ -n "$args" ] || args=compare
    echo
    echo "## $where"
    echo "\$ cargo run --release -- $args"
    # A chart goes to a scratch directory, not over the one in lessons/images/.
    args=$(sed -E "s#--chart ([^ ]*/)?([^ /]*)#--chart $WORK/\\2#" <<<"$args")
    # The quoted commands are plain flags: word splitting is what we want.
    # shellcheck disable=SC2086
    # It exits non-zero when a lesson is not verified (lesson 01 may
    # corrupt its stream: that is its lesson); go on with the next.
    target/release/servercore $args 2>/dev/null ||
        echo "(servercore exited with status $?: a lesson was not verified, see its row)"
done <<<"$COMMANDS"
if compgen -G "$WORK/*.svg" >/dev/null; then
    echo
    echo "charts: $WORK/*.svg"
fi
