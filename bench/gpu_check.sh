#!/usr/bin/env bash
# The GPU check (issue 17), one prepared script that finishes in at most 8 minutes on one CUDA GPU:
#   1. bench/trainer.py at the 15m and 60m presets on CUDA (bf16 autocast, torch.compile, fused AdamW,
#      a 32768-token head): tokens/s, model FLOP/s, the bf16 matmul peak measured in the same process,
#      MFU (goal: >= 0.40 at 60m);
#   2. a 4-run BPE proxy sweep at 5m on the shipped fixture corpus: final losses (bits/byte), wall time.
# Results: $OUT/trainer.json and $OUT/sweep.json (OUT defaults to bench/gpu_check_out), each one JSON
# object, and a summary on stdout. Usage: bash bench/gpu_check.sh   (PYTHON=... to pick the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=${OUT:-bench/gpu_check_out}
mkdir -p "$OUT"
started=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c "import torch, sys; assert torch.cuda.is_available(), 'no CUDA device'; print('torch', torch.__version__, torch.cuda.get_device_name())"

timeout 270 "$PY" bench/trainer.py tests/fixtures/corpus --models 15m,60m --device cuda --vocab 32768 \
  --seconds 25 --warmup 15 --peak-seconds 3 | tail -n 1 > "$OUT/trainer.json"
timeout 180 "$PY" bench/gpu_sweep.py --model 5m --runs 4 --tokens 8000000 --device cuda | tail -n 1 > "$OUT/sweep.json"

"$PY" - "$OUT" "$started" <<'PYEOF'
import json, sys, time
out, started = sys.argv[1], int(sys.argv[2])
bench = json.load(open(f"{out}/trainer.json"))
sweep = json.load(open(f"{out}/sweep.json"))
for name, r in bench["presets"].items():
    print(f"{name}: {r['tokens_per_s']:.0f} tokens/s, mfu {r['mfu']:.3f} ({r['precision']}, compile={r['compile']}, {r['device']})")
for run_id, r in sweep["runs"].items():
    mean = sum(r["final_bits_per_byte"].values()) / max(1, len(r["final_bits_per_byte"]))
    print(f"{run_id}: {r['status']} in {r['wall_s']} s, {r['tokens_per_s']:.0f} tokens/s, mean {mean:.3f} bits/byte")
print(f"sweep wall {sweep['wall_s']} s; whole check {time.time() - started:.0f} s")
PYEOF
