#!/usr/bin/env bash
# The sweeps behind book/beyond/infonce.ipynb (issue 13, Part III chapter 1).
# Run from the repository root:
#   . /work/venv/bin/activate && export PYTHONPATH=src
#   bash book/data/beyond/infonce_sweeps.sh 2>&1 | tee book/data/beyond/infonce_run.log
# Every call is one `python -m linclip simulate` grid point; its trial rows go to one CSV
# under book/data/beyond/infonce/. The notebook reads them all.
# Setting: d = 10, d~ = 8, r = 4, gamma = gamma~ = 10, InfoNCE defaults (tau = 1, 20 epochs,
# batch 128, Adam lr 0.01 with cosine decay, random start) unless a sweep varies them.
set -euo pipefail
OUT=book/data/beyond/infonce
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1
COMMON=(--d 10 --d-t 8 --r 4 --gamma 10 --gamma-t 10 --learner infonce --jobs 2)
run() {  # run NAME ARGS...: skip a grid point whose CSV exists (resumable)
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

# A. ERR against n, no filtering, at eta = 1 and eta = 0.3 (5 trials, seed 1)
for eta in 1 0.3; do
    for n in 2000 5000 10000 20000 50000; do
        run "n_eta${eta}_n${n}" --method none --eta "$eta" --n "$n" --trials 5 --seed 1
    done
done

# B. ERR against eta at n = 20000: no filtering, and Algorithm 1 (teacher-split, theta = 0)
#    with the InfoNCE model as its own teacher (5 trials, seed 2; the same pairs per trial)
for eta in 1 0.5 0.3 0.2 0.1 0.05; do
    run "eta_none_eta${eta}" --method none --eta "$eta" --n 20000 --trials 5 --seed 2
    run "eta_split_eta${eta}" --method teacher-split --teacher-learner infonce \
        --eta "$eta" --n 20000 --trials 5 --seed 2
done

# C. Sensitivity to the temperature and the batch size, no filtering, eta = 0.3, n = 20000
#    (4 trials, seed 3)
for tau in 0.1 0.3 1 3; do
    for B in 32 128 512; do
        run "tau${tau}_B${B}" --method none --eta 0.3 --n 20000 --trials 4 --seed 3 \
            --temperature "$tau" --batch-size "$B"
    done
done
# D. ERR against the signal-to-noise ratio, eta = 1, n = 20000, no filtering (3 trials, seed 4)
for g in 1 3 10 100 1000 10000; do
    run "gamma${g}" --method none --eta 1 --n 20000 --trials 3 --seed 4 --gamma "$g" --gamma-t "$g"
done
echo "done"
