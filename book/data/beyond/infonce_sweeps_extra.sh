#!/usr/bin/env bash
# Extra grid points for book/beyond/infonce.ipynb (run after infonce_sweeps.sh, same setting):
# what limits Algorithm 1 with an InfoNCE student, the teacher or the student?
#   E1. teacher-split with a *linear* teacher and an InfoNCE student
#   E2. oracle-score (filter by x^T U U~^T x~ > 0, all n pairs) with an InfoNCE student
# n = 20000, seed 2 and 4 trials: the same pairs as sweep B.
set -euo pipefail
OUT=book/data/beyond/infonce
export OPENBLAS_NUM_THREADS=1
COMMON=(--d 10 --d-t 8 --r 4 --gamma 10 --gamma-t 10 --learner infonce --jobs 2)
run() {
    local name=$1
    shift
    if [ -f "$OUT/$name.csv" ]; then
        echo "skip $name (exists)"
        return
    fi
    echo "== $name: python -m linclip simulate ${COMMON[*]} $*"
    local t0=$SECONDS
    python -m linclip simulate "${COMMON[@]}" "$@" --out "$OUT/$name.tmp.csv"
    mv "$OUT/$name.tmp.csv" "$OUT/$name.csv"
    echo "   ($((SECONDS - t0)) s wall)"
}
for eta in 1 0.3 0.1; do
    run "eta_splitlin_eta${eta}" --method teacher-split --teacher-learner linear \
        --eta "$eta" --n 20000 --trials 4 --seed 2
    run "eta_oracle_eta${eta}" --method oracle-score --eta "$eta" --n 20000 --trials 4 --seed 2
done
echo "done"
