#!/usr/bin/env bash
# Regenerates the trace pictures the chapters show (lessons/images/trace-NN.svg):
# a short, scripted run of lessons 03, 04 and 07, recorded and drawn by
# `servercore trace`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
for lesson in 3 4 7; do
    target/release/servercore trace --lesson "$lesson" --svg "lessons/images/trace-0$lesson.svg"
done
