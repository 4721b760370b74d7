#!/usr/bin/env bash
# bench-features.sh - rp-features at full KuaiRec size: real user_features / item_categories
# (../shared), a generated 343,341-row item_daily_features.csv and caption file
# (features_gen.py), a synthetic shards.h5 with 11.2 M train interactions (features_mkshards.sh);
# times np = 1 and 2 (NPS to change) and checks the datasets are identical across rank counts.
# Env: SCALE (1), NNZ (11277725), NPS ("1 2"), BENCH_DIR (fresh temp dir). Timings are noisy
# on a shared machine.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/tests/env.sh"
scale=${SCALE:-1} nnz=${NNZ:-11277725} nps=${NPS:-1 2}
dir=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bench-features.XXXXXX")}
mkdir -p "$dir"
t0=$(date +%s.%N)
python3 "$top/bench/features_gen.py" "$dir" "$scale"
bash "$top/bench/features_mkshards.sh" "$dir/shards.h5" 7176 10728 "$nnz"
echo "inputs ready in $(echo "$(date +%s.%N) - $t0" | bc) s: $(du -sh "$dir" | cut -f1) in $dir"
ls -l "$dir"/*.csv "$dir/shards.h5" | awk '{print "  " $5 "  " $9}'
first=
for np in $nps; do
    out=$dir/features-np$np.h5
    s=$(date +%s.%N)
    rp_mpirun "$np" "$top/bin/rp-features" --data "$dir" --shards "$dir/shards.h5" --out "$out" \
        --popularity 2> "$dir/err-np$np.txt"
    echo "np=$np wall=$(echo "$(date +%s.%N) - $s" | bc) s (includes mpirun start-up)"
    if [ -z "$first" ]; then first=$out; continue; fi
    for ds in /user/cat /user/cat_cardinality /user/num /item/cat /item/cat_cardinality \
              /item/tags /item/num; do
        h5diff -q "$first" "$out" "$ds" "$ds" || { echo "DIFFERENT: $ds np=$np"; exit 1; }
    done
    echo "np=$np datasets identical to the first run"
done
