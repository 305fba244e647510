#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 20) on the stable
# toolchain (RUSTC_BOOTSTRAP lets cargo-fuzz's flags through; no sanitizer:
# the code is safe Rust, so libFuzzer's coverage and panics are what count).
# Corpora live in fuzz/corpus/TARGET; crashes land in fuzz/artifacts/TARGET.
# Prints one line per target and the total CPU seconds fuzzed.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-20}
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --version 0.13.2
cargo fuzz build -s none --release
total=0
failed=0
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target"
  start=$(date +%s)
  if cargo fuzz run -s none --release "$target" "corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=70000 -print_final_stats=1 \
      >"/tmp/fuzz-$target.log" 2>&1; then
    verdict=ok
  else
    verdict=CRASH
    failed=1
  fi
  took=$(( $(date +%s) - start ))
  total=$(( total + took ))
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "/tmp/fuzz-$target.log" | grep -o '[0-9]*$' || echo '?')
  printf 'fuzz %-18s %s  %ss  %s runs\n' "$target" "$verdict" "$took" "$runs"
  if [ "$verdict" = CRASH ]; then tail -n 40 "/tmp/fuzz-$target.log"; fi
done
echo "fuzzed ${total} CPU seconds in all"
exit $failed
