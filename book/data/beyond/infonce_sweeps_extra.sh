#!/usr/bin/env bash
# Extra grid points for book/beyond/infonce.ipynb (run after infonce_sweeps.sh, same setting):
# what limits Algorithm 1 with an InfoNCE student, the teacher or the student?
#   E1. teacher-split with a *linear* teacher and an InfoNCE student
#   E2. oracle-score (filter by x^T U U~^T x~ > 0, all n pairs) with an InfoNCE student
# n = 20000, seed 2 and 4 trials: the same pairs as sweep B.
set -euo pipefail
# shellcheck source=infonce_common.sh
. "$(dirname "${BASH_SOURCE[0]}")/infonce_common.sh"
for eta in 1 0.3 0.1; do
    run "eta_splitlin_eta${eta}" --method teacher-split --teacher-learner linear \
        --eta "$eta" --n 20000 --trials 4 --seed 2
    run "eta_oracle_eta${eta}" --method oracle-score --eta "$eta" --n 20000 --trials 4 --seed 2
done
echo "done"
