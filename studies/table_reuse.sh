#!/usr/bin/env bash
# The results table again after a change that only touches `cluster` / `evaluate` (e.g. a new
# default of a cluster.* parameter), reusing each row's earlier stages instead of re-running
# them: for each row, restore the earlier experiment's dvc.lock, metrics and plots (its cached
# outputs come back by `dvc checkout`), then run the row at the committed params.yaml; DVC
# re-runs only the stages whose params or deps changed. Run from the repository root, in the
# clone that holds the earlier experiments (named <old-tag>-s<seed>-<row> by studies/table.sh).
#
#   bash studies/table_reuse.sh <old-tag> <new-tag> [seeds...]     # e.g. t t4 0 1 2
#
# The full pipeline and the ablation rows start from the earlier full run of their seed (or from
# REUSE_FULL=<row> of the earlier study, e.g. tw4 when the new default is that row's params).
set -euo pipefail
export DVC_NO_ANALYTICS=1
old="$1"; new="$2"; shift 2
seeds=("$@"); [[ ${#seeds[@]} -eq 0 ]] && seeds=(0 1 2)
full="${REUSE_FULL:-full}"
# shellcheck source=/dev/null
source <(sed -n '/^declare -A ROWS=(/,/^)/p' studies/table.sh)
declare -A BASE=([full]=$full [ctacl]=ctacl [ctacl-noda]=ctacl-noda [sup]=sup [sscl]=sscl
  [vapc]=vapc [no-2p]=$full [no-kr]=$full [no-ns]=$full [all-off]=$full)
existing=$(dvc exp ls --name-only 2>/dev/null || true)
for s in "${seeds[@]}"; do
  for row in full ctacl sup sscl vapc ctacl-noda no-2p no-kr no-ns all-off; do
    name="$new-s$s-$row"
    if grep -qx "$name" <<<"$existing"; then echo "skip $name (exists)"; continue; fi
    ref=$(git for-each-ref --format='%(refname)' refs/exps | grep "/$old-s$s-${BASE[$row]}\$" || true)
    if [[ $(wc -w <<<"$ref") -ne 1 ]]; then
      echo "table_reuse: need exactly one experiment named $old-s$s-${BASE[$row]}" \
        "(found: ${ref:-none}); run studies/table.sh for it first" >&2
      exit 1
    fi
    git checkout -q "$ref" -- dvc.lock metrics plots
    dvc checkout -q -f >/dev/null 2>&1 || true
    git checkout -q HEAD -- params.yaml
    echo "== $name (stages of $old-s$s-${BASE[$row]})"
    # shellcheck disable=SC2086
    dvc exp run -n "$name" -S train.seed=$s ${ROWS[$row]}
  done
done
git checkout -q HEAD -- params.yaml
