#!/usr/bin/env bash
# Rebuild the three shipped models (plugins/generators/models/{fire,sky,nebula}.safetensors) from scratch:
# render their training data with the project's own effects, train, then evaluate.
#
#   models/train_shipped.sh            # everything (data ~3-7 min, training ~30 min, eval ~3 min on 2 busy CPU cores)
#   models/train_shipped.sh data       # only the datasets      (models/data/out/, ignored by git)
#   models/train_shipped.sh train      # only the training      (plugins/generators/models/*.safetensors)
#   models/train_shipped.sh eval       # only the evaluation    (docs/gallery/model_*.png, models/shipped_metrics.json)
#
# --threads 1: on a 2-core machine shared with other work, torch with 2 OpenMP threads trained
# 5-8x slower than with 1 (measured: GAN 0.19 vs 1.62 step/s) while the other core was busy.
# Training on the CPU with a fixed --seed is deterministic: the same commands give the same files.
set -euo pipefail
cd "$(dirname "$0")/.."
VFX=.venv/bin/vfx
PY=.venv/bin/python
D=models/data/out
stage=${1:-all}

timed() {  # timed NAME CMD...: run CMD and log its wall time to models/out/times.txt
    local name=$1; shift
    mkdir -p models/out
    local t0=$(date +%s)
    echo "+ $*"
    "$@"
    local t1=$(date +%s)
    echo "$name $((t1 - t0)) s ($(date -u +%FT%TZ)): $*" | tee -a models/out/times.txt
}

if [[ $stage == all || $stage == data ]]; then
    # 120 x 20 fire frames, 200 x 12 sky frames, 200 x 12 nebula frames for training (2400 each);
    # 60 held-out variants each, with other seeds (1200 / 720 / 720 frames)
    timed data-fire   $PY models/make_data.py fire
    timed data-sky    $PY models/make_data.py sky
    timed data-nebula $PY models/make_data.py nebula
fi

if [[ $stage == all || $stage == train ]]; then
    timed train-fire $VFX train vae --data $D/fire/train --out plugins/generators/models/fire.safetensors \
        --resolution 64 --latent-dim 64 --steps 2000 --batch-size 32 --seed 0 --threads 1 --device cpu
    timed train-sky $VFX train vae --data $D/sky/train --out plugins/generators/models/sky.safetensors \
        --resolution 64 --latent-dim 64 --steps 2000 --batch-size 32 --seed 0 --threads 1 --device cpu
    timed train-nebula $VFX train gan --data $D/nebula/train --out plugins/generators/models/nebula.safetensors \
        --resolution 64 --latent-dim 64 --channels 16 --steps 4000 --batch-size 32 --seed 0 --threads 1 --device cpu
fi

if [[ $stage == all || $stage == eval ]]; then
    timed eval $PY models/evaluate_shipped.py
fi
