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
# shellcheck source=infonce_common.sh
. "$(dirname "${BASH_SOURCE[0]}")/infonce_common.sh"

# The machine was shared (load average 6-13 on 2 cores), so the grid is small: 4 trials per
# point, and points shared between sweeps are run once (the eta = 1 and 0.3 points at
# n = 20000 of sweep A are those of sweep B; tau = 1, batch 128 of sweep C is sweep B's
# eta = 0.3 point; gamma = 10 of sweep D is sweep B's eta = 1 point).

# B. ERR against eta at n = 20000: no filtering, and Algorithm 1 (teacher-split, theta = 0)
#    with the InfoNCE model as its own teacher (4 trials, seed 2; the same pairs per trial)
for eta in 1 0.3 0.1 0.5 0.2 0.05; do
    run "eta_none_eta${eta}" --method none --eta "$eta" --n 20000 --trials 4 --seed 2
    run "eta_split_eta${eta}" --method teacher-split --teacher-learner infonce \
        --eta "$eta" --n 20000 --trials 4 --seed 2
done

# A. ERR against n, no filtering, at eta = 1 (the points n <= 10000 with 5 trials) and
#    eta = 0.3 (seed 1)
for n in 2000 5000 10000 50000; do
    run "n_eta1_n${n}" --method none --eta 1 --n "$n" --trials 5 --seed 1
done
for n in 5000 10000 50000; do
    run "n_eta0.3_n${n}" --method none --eta 0.3 --n "$n" --trials 4 --seed 1
done

# C. Sensitivity to the temperature (batch 128) and to the batch size (tau = 1), no
#    filtering, eta = 0.3, n = 20000 (3 trials, seed 3)
for tau in 0.1 0.3 3; do
    run "tau${tau}_B128" --method none --eta 0.3 --n 20000 --trials 3 --seed 3 --temperature "$tau"
done
for B in 32 512; do
    run "tau1_B${B}" --method none --eta 0.3 --n 20000 --trials 3 --seed 3 --batch-size "$B"
done

# D. ERR against the signal-to-noise ratio, eta = 1, n = 20000, no filtering (2 trials, seed 4)
for g in 1 100 10000; do
    run "gamma${g}" --method none --eta 1 --n 20000 --trials 2 --seed 4 --gamma "$g" --gamma-t "$g"
done
echo "done"
