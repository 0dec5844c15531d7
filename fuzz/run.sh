#!/bin/sh
# Runs one cargo-fuzz target for SECONDS and prints one line: how many
# inputs it ran, and whether one crashed (then the input's file and the log).
# Usage: fuzz/run.sh TARGET SECONDS
set -u
target=$1
seconds=$2
cd "$(dirname "$0")" || exit 1
mkdir -p "corpus/$target" "artifacts/$target"
log=$(mktemp)
# New inputs go to corpus/ (not in git); seeds/ holds the committed starters.
cargo +nightly fuzz run --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
	-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
status=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
if [ "$status" -eq 0 ]; then
	echo "fuzz $target: ${runs:-?} inputs in ${seconds} s, no crash"
else
	tail -n 60 "$log"
	echo "fuzz $target: FAILED (exit $status) after ${runs:-?} inputs; crashing input: $(ls -t "artifacts/$target" | head -n 1)"
fi
rm -f "$log"
exit "$status"
