#!/usr/bin/env bash
# Larger-n check for book/beyond/infonce.ipynb: does the InfoNCE model's own filter start to
# help once its teacher is better? n = 100000, eta = 0.3 and 0.1, no filtering and Algorithm 1
# with the InfoNCE teacher (2 trials, seed 5; the same pairs for both methods).
set -euo pipefail
# shellcheck source=infonce_common.sh
. "$(dirname "${BASH_SOURCE[0]}")/infonce_common.sh"
for eta in 0.3 0.1; do
    run "large_none_eta${eta}" --method none --eta "$eta" --n 100000 --trials 2 --seed 5
    run "large_split_eta${eta}" --method teacher-split --teacher-learner infonce \
        --eta "$eta" --n 100000 --trials 2 --seed 5
done
echo "done"
