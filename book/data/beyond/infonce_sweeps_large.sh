#!/usr/bin/env bash
# Larger-n check for book/beyond/infonce.ipynb: does the InfoNCE model's own filter start to
# help once its teacher is better? n = 100000, eta = 0.3 and 0.1, no filtering and Algorithm 1
# with the InfoNCE teacher (2 trials, seed 5; the same pairs for both methods).
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
for eta in 0.3 0.1; do
    run "large_none_eta${eta}" --method none --eta "$eta" --n 100000 --trials 2 --seed 5
    run "large_split_eta${eta}" --method teacher-split --teacher-learner infonce \
        --eta "$eta" --n 100000 --trials 2 --seed 5
done
echo "done"
