# Shared by the InfoNCE sweeps (infonce_sweeps*.sh): the setting and a resumable grid point.
# Setting: d = 10, d~ = 8, r = 4, gamma = gamma~ = 10, InfoNCE defaults (tau = 1, 20 epochs,
# batch 128, Adam lr 0.01 with cosine decay, random start) unless a sweep varies them.
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
