#!/usr/bin/env bash
# One pass on a CUDA machine, from the repository root: builds native/ for sm_90a, checks the fault hook
# (B12X_FAULT=0 skips it), profiles the decode and prefill kernels with Nsight Compute, runs the named GPU tests
# (optionally under compute-sanitizer) and builds every architecture in the background to check the fat binary.
# Results go to $OUT. B12X_TEST_TIMEOUT: seconds for the test run (default 400); B12X_SANITIZE: test filter run
# under each of B12X_SANITIZE_TOOLS (default all four), B12X_SANITIZE_TIMEOUT seconds each (default 90).
set -uo pipefail
out=${OUT:-/tmp/out}
filter=${1:-FullyQualifiedName~Backends.Cuda}
mkdir -p "$out"
nvcc --list-gpu-arch | tr '\n' ' ' > "$out/archs.txt"
archs="80;90a;100a;120a"
grep -q compute_121 "$out/archs.txt" && archs="$archs;121a"
cmake -S native -B /tmp/nb -DB12X_CUDA_ARCHITECTURES=90a > "$out/cmake.log" 2>&1 && cmake --build /tmp/nb -j16 2>&1 | grep -E "error|warning"
if [ "${B12X_ALL_ARCH:-1}" = 1 ]; then
  ( cmake -S native -B /tmp/nball -DB12X_CUDA_ARCHITECTURES="$archs" > "$out/all-cmake.log" 2>&1 && cmake --build /tmp/nball -j8 > "$out/all-build.log" 2>&1; echo "all architectures ($archs): rc=$?" >> "$out/all-build.log" ) &
fi
if [ "${B12X_SM80:-0}" = 1 ]; then
  # The sm_80 build alone: on a newer GPU the driver compiles its PTX, so the Ampere code path runs here too.
  ( cmake -S native -B /tmp/nb80 -DB12X_CUDA_ARCHITECTURES=80 > "$out/sm80-cmake.log" 2>&1 && cmake --build /tmp/nb80 -j8 > "$out/sm80-build.log" 2>&1 &&
    python3 native/tests/moe_smoke.py /tmp/nb80/libb12x.so --quick > "$out/sm80-smoke.log" 2>&1; echo "sm_80 build smoke: rc=$?" >> "$out/sm80-smoke.log" ) &
fi
if [ "${B12X_FAULT:-1}" = 1 ]; then
  # The fault hook: injected launch failures in this process, an illegal address in a child process.
  python3 native/tests/moe_smoke.py /tmp/nb/libb12x.so --fault > "$out/fault.log" 2>&1
  echo "fault hook checks: rc=$?"; grep -E "^FAIL|^fault hook:|^FAULT SUMMARY" "$out/fault.log" || tail -5 "$out/fault.log"
fi
if [ "${B12X_PROFILE:-1}" = 1 ]; then
  ncu --clock-control none --metrics gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_elapsed \
    python3 native/tests/moe_smoke.py /tmp/nb/libb12x.so --profile > "$out/ncu.log" 2>&1
  grep -E "^  [a-zA-Z_].*\(|gpu__time_duration|dram__throughput|hmma" "$out/ncu.log" | sed -E 's/\(MoeParams.*//; s/ +/ /g' | paste - - - - | grep -v "at::" | head -40
fi
run_tests() { B12X_NATIVE_LIB=/tmp/nb/libb12x.so B12X_REQUIRE_CUDA=1 bash .gpu/env.sh dotnet .gpu/tests/Microsoft.ML.B12x.Tests.dll --no-ansi --progress off --output Detailed --filter "$1"; }
timeout "${B12X_TEST_TIMEOUT:-400}" bash -c "$(declare -f run_tests); run_tests '$filter'" > "$out/gpu-tests.log" 2>&1
echo "GPU tests rc=$?"; grep -E "^(passed|failed|skipped)|total:|failed:|succeeded:|skipped:" "$out/gpu-tests.log" | grep -vE "^passed" | tail -12
if [ -n "${B12X_SANITIZE:-}" ]; then
  for tool in ${B12X_SANITIZE_TOOLS:-memcheck racecheck synccheck initcheck}; do
    timeout "${B12X_SANITIZE_TIMEOUT:-90}" compute-sanitizer --tool $tool --print-limit 20 bash -c "$(declare -f run_tests); run_tests '$B12X_SANITIZE'" > "$out/sanitizer-$tool.log" 2>&1
    echo "$tool: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|succeeded:|failed:' "$out/sanitizer-$tool.log" | tr '\n' ' ')"
  done
fi
wait
[ -f "$out/all-build.log" ] && { tail -1 "$out/all-build.log"; cuobjdump --list-elf /tmp/nball/libb12x.so 2>/dev/null | grep -oE "sm_[0-9]+a?" | sort | uniq -c | tr '\n' ' '; echo; }
[ -f "$out/sm80-smoke.log" ] && grep -E "FAILURES|rc=" "$out/sm80-smoke.log"
