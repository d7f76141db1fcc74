#!/usr/bin/env bash
# `matinv-bench reproduce gpu --budget gpu` on a machine with a CUDA GPU (see docs/gpu.md).
#
# Uses the python3 and CUDA torch already there: the package is installed without its dependencies
# (such a machine may have no network, and .ci/constraints.txt would pin a CPU torch). Writes
# results/cuda-<gpu>/ and, where $OUT is set, copies run.md, the log and the whole folder (as
# .tar.gz parts of at most 15 MiB) there. A second call continues the first (--resume): finished
# cells are kept, and trained networks come from .model-cache/ while the machine is the same.
#
# Environment: PYTHON (default python3), LIMIT_S (default 420: seconds before the run is stopped,
# leaving time to pack the results, and in a 15-minute loan time for a short first call; see
# docs/gpu.md), PAPER_DATA (the authors' released data;
# default: the first of ./.paper-data, ./shared/paper-data, ../shared/paper-data that exists).
# Extra arguments go to the command, e.g. `bench/gpu_run.sh --only table1 table2`.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
export MATINV_BENCH_CACHE=${MATINV_BENCH_CACHE:-$PWD/.model-cache}  # trained networks, kept between calls

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_run.sh: torch.cuda.is_available() is False here (no GPU, or a CPU-only torch): nothing to run" >&2
    exit 2
fi
if ! "$PY" -m pip install -q --no-deps --no-build-isolation -e . >/tmp/matinv-pip.log 2>&1; then
    echo "gpu_run.sh: pip install -e . failed (see /tmp/matinv-pip.log); running from the checkout" >&2
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
if ! "$PY" -c 'import matinv_bench.cli, matinv_bench.experiments.gpu'; then
    echo "gpu_run.sh: cannot import matinv_bench here (a missing dependency? see docs/gpu.md)" >&2
    exit 2
fi

paper=()
for d in "${PAPER_DATA:-}" .paper-data shared/paper-data ../shared/paper-data; do
    if [ -n "$d" ] && [ -f "$d/matrix_16/base_matrix.npy" ]; then paper=(--paper-data "$d"); break; fi
done
[ ${#paper[@]} -eq 0 ] && echo "gpu_run.sh: WARNING: no paper data found: the authors' test sets and 16x16 base are left out" >&2

out=$("$PY" -c 'from matinv_bench.experiments.gpu import gpu_folder; print(gpu_folder())')
where=(--out "$out")
[ -f "$out/run.md" ] && where=(--resume "$out")  # a second call continues the first
mkdir -p "$out"
# the CUDA smoke tests of this checkout first (the package's plan knows nothing of tests/)
cuda_tests=$(grep -l "mark.cuda" tests/test_*.py 2>/dev/null | tr '\n' ' ')
if [ -n "$cuda_tests" ] && [ ! -f "$out/pytest-cuda.txt" ]; then
    # in this one process (-p no:xdist): a few tests, and one GPU
    # shellcheck disable=SC2086
    timeout 300 "$PY" -m pytest -m cuda -q -p no:cacheprovider -p no:xdist $cuda_tests >"$out/pytest-cuda.txt" 2>&1
    echo "gpu_run.sh: CUDA tests: $(tail -n 1 "$out/pytest-cuda.txt") (all of it in $out/pytest-cuda.txt)"
fi
echo "gpu_run.sh: $PY -m matinv_bench reproduce gpu --budget gpu ${paper[*]} ${where[*]} $* (stopped after ${LIMIT_S:-420} s)"
timeout -k 30 "${LIMIT_S:-420}" "$PY" -m matinv_bench reproduce gpu --budget gpu "${paper[@]}" "${where[@]}" "$@" \
    2>&1 | tee -a "$out/log.txt"
status=${PIPESTATUS[0]}
echo "gpu_run.sh: exit status $status (124: stopped by the time limit; 130: interrupted, run.md says where)"

if [ -n "${OUT:-}" ]; then
    cp "$out/run.md" "$out/log.txt" "$out/pytest-cuda.txt" "$OUT/" 2>/dev/null
    tar czf - -C "$(dirname "$out")" "$(basename "$out")" | split -b 15M -d - "$OUT/results.tar.gz.part-"
    echo "gpu_run.sh: copied run.md, log.txt and $(basename "$out") as $(ls "$OUT"/results.tar.gz.part-* | wc -l) part(s) to \$OUT" \
         "(join them: cat results.tar.gz.part-* | tar xz)"
fi
exit "$status"
