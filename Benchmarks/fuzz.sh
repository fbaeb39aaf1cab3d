#!/usr/bin/env bash
# Fuzzes Tailor's readers with libFuzzer + AddressSanitizer (swiftc -sanitize=fuzzer,address):
# the interaction log reader, the event reader, the item/user readers and the safetensors
# decoder. Each target starts from the committed seed corpus in Benchmarks/Fuzz/corpus and runs
# for SECONDS (default 60); crashes are written to .build-fuzz/crashes and make this script exit 1.
#
#   bash Benchmarks/fuzz.sh [SECONDS] [TARGET…]      targets: log events items safetensors
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-60}"; shift || true
TARGETS=("${@:-log events items safetensors}")
TARGETS=(${TARGETS[@]})
OUT=.build-fuzz
mkdir -p "$OUT/crashes" "$OUT/work"
FLAGS=(-sanitize=fuzzer,address -parse-as-library -O -g -package-name Tailor)

# TailorLinalg and TailorData as static libraries, instrumented.
if [[ ! -f "$OUT/libTailorData.a" || -n "$(find Sources/TailorData Sources/TailorLinalg -newer "$OUT/libTailorData.a" -name '*.swift' | head -1)" ]]; then
  echo "building instrumented TailorLinalg and TailorData …"
  swiftc "${FLAGS[@]}" -emit-library -static -emit-module -module-name TailorLinalg -enable-testing \
    -emit-module-path "$OUT/TailorLinalg.swiftmodule" -o "$OUT/libTailorLinalg.a" $(find Sources/TailorLinalg -name '*.swift')
  swiftc "${FLAGS[@]}" -emit-library -static -emit-module -module-name TailorData -I "$OUT" \
    -emit-module-path "$OUT/TailorData.swiftmodule" -o "$OUT/libTailorData.a" $(find Sources/TailorData -name '*.swift')
fi

status=0
summary=()
for target in "${TARGETS[@]}"; do
  define=$(echo "FUZZ_$target" | tr '[:lower:]' '[:upper:]')
  exe="$OUT/fuzz-$target"
  swiftc "${FLAGS[@]}" -D "$define" -I "$OUT" -L "$OUT" -lTailorData -lTailorLinalg Benchmarks/Fuzz/Targets.swift -o "$exe"
  corpus="Benchmarks/Fuzz/corpus/$target"
  work="$OUT/work/$target"
  mkdir -p "$work"
  log="$OUT/fuzz-$target.log"
  echo "fuzzing $target for ${SECONDS_PER_TARGET}s …"
  if "$exe" "$work" "$corpus" -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$OUT/crashes/$target-" -print_final_stats=1 > "$log" 2>&1; then
    result="no crash"
  else
    result="CRASH (see $log and $OUT/crashes)"
    status=1
  fi
  runs=$(grep -E "stat::number_of_executed_units" "$log" | awk '{print $2}' | tail -1)
  summary+=("$target: ${runs:-?} executions in ${SECONDS_PER_TARGET}s, $result")
done
printf '%s\n' "${summary[@]}"
{ echo "# bash Benchmarks/fuzz.sh $SECONDS_PER_TARGET, $(date -u +%Y-%m-%d)"; printf '%s\n' "${summary[@]}"; } > Benchmarks/results/fuzz.txt
exit $status
