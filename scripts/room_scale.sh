#!/usr/bin/env bash
# Lesson 12's comparison at scale: for each room size and lesson, a fresh
# `servercore room` process and one `servercore bots` run against it, both
# under /usr/bin/time -v. Prints, per run, the bots' JSON line and one line
# of process costs (peak threads sampled from /proc, max RSS, context switches).
#
#   cargo build --release
#   scripts/room_scale.sh "100 500 1000" "2 4" 10 2
#                          sizes          lessons rate seconds
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${1:-"100 500 1000"}
LESSONS=${2:-"2 4"}
RATE=${3:-10}
SECONDS_=${4:-2}
BIN=target/release/servercore
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

field() { sed -n "s/^[[:space:]]*$1: //p" "$2" | head -1; }

for n in $SIZES; do
  for lesson in $LESSONS; do
    : >"$WORK/room.out"
    /usr/bin/time -v "$BIN" room --addr 127.0.0.1:0 --lesson "$lesson" >"$WORK/room.out" 2>"$WORK/room.err" &
    timer=$!
    until grep -q '^listening on ' "$WORK/room.out"; do sleep 0.05; done
    addr=$(sed -n 's/^listening on //p' "$WORK/room.out")
    room=$(pgrep -P "$timer")
    # Peak thread count of the room process, sampled twice a second.
    ( peak=0; while t=$(awk '/^Threads:/{print $2}' "/proc/$room/status" 2>/dev/null); do
        [ -n "$t" ] && [ "$t" -gt "$peak" ] && peak=$t; echo "$peak" >"$WORK/peak"; sleep 0.5; done ) &
    sampler=$!
    /usr/bin/time -v "$BIN" bots --addr "$addr" --players "$n" --rate "$RATE" --seconds "$SECONDS_" \
      --format json >"$WORK/bots.json" 2>"$WORK/bots.err" || true
    kill "$room"; wait "$timer" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
    cat "$WORK/bots.json"
    echo "costs: players=$n lesson=$lesson room_threads_peak=$(cat "$WORK/peak")" \
      "room_max_rss_kb=$(field 'Maximum resident set size (kbytes)' "$WORK/room.err")" \
      "room_voluntary_cs=$(field 'Voluntary context switches' "$WORK/room.err")" \
      "room_involuntary_cs=$(field 'Involuntary context switches' "$WORK/room.err")" \
      "room_cpu=$(field 'Percent of CPU this job got' "$WORK/room.err")" \
      "bots_max_rss_kb=$(field 'Maximum resident set size (kbytes)' "$WORK/bots.err")" \
      "bots_voluntary_cs=$(field 'Voluntary context switches' "$WORK/bots.err")" \
      "bots_involuntary_cs=$(field 'Involuntary context switches' "$WORK/bots.err")" \
      "bots_cpu=$(field 'Percent of CPU this job got' "$WORK/bots.err")"
    grep -v '^\s' "$WORK/bots.err" | grep -v 'Command being timed' || true
  done
done
