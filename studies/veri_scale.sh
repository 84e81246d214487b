#!/usr/bin/env bash
# The `veri` synthetic preset (VeRi-776 scale: 576 train identities, ~37,778 train images)
# through every stage with few epochs, each stage's wall time and peak memory measured
# (studies/stage_costs.py). Runs in a copy of this commit (git archive), outside DVC; the
# pretrained encoder is copied from this checkout's artifacts (the `pretrain` stage does not
# depend on the dataset: same pool, same params).
#
#   bash studies/veri_scale.sh [DIR]        # default DIR: /tmp/veri_scale
set -euo pipefail
here=$(pwd)
dir=${1:-/tmp/veri_scale}
test -f "$here/artifacts/pretrain/backbone.pt" || { echo "run dvc repro pretrain first" >&2; exit 1; }
rm -rf "$dir" && mkdir -p "$dir"
git archive HEAD | tar -x -C "$dir"
cd "$dir"
printf 'preset: veri\nseed: 0\n' > data/source/synth.yaml
python - <<'PY'
import yaml
p = yaml.safe_load(open("params.yaml"))
p["viewpoint"]["epochs"] = 1
p["recognize"].update(epochs=2, warmup_epochs=1, memory_reset_every=0)
p["cluster"].update(rounds=1, epochs_per_round=1)
yaml.safe_dump(p, open("params.yaml", "w"), sort_keys=False)
PY
mkdir -p artifacts/pretrain && cp "$here/artifacts/pretrain/backbone.pt" artifacts/pretrain/
PYTHONPATH="$dir/src" python studies/stage_costs.py --skip pool pretrain --out stage_costs.json
for m in data viewpoint recognize cluster eval; do echo "metrics/$m.json:"; head -c 600 "metrics/$m.json"; echo; done
