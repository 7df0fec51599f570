#!/usr/bin/env bash
# GPU run of the simdata benchmarks (packed cells prepared beforehand with
# `validate.py prepare` and `throughput.py prepare`). Usage: device_run.sh OUTDIR [MD_TIMEOUT_S]
# Needs openmm + openmm-cuda-13 importable; CUDA libraries (cufft, nvrtc) are taken
# from the nvidia/cu13/lib folder of the installed NVIDIA wheels.
set -u
OUTDIR=${1:?output folder}
MD_TIMEOUT=${2:-330}
cd "$(dirname "$0")/../.."
LIB=$(python3 -c "import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], 'cu13', 'lib'))" 2>/dev/null)
if [ -n "$LIB" ] && [ -d "$LIB" ]; then
  export LD_LIBRARY_PATH="$LIB:${LD_LIBRARY_PATH:-}"
  PRE="$(ls "$LIB"/libcufft.so.* 2>/dev/null | head -1) $(ls "$LIB"/libnvrtc.so.* 2>/dev/null | head -1)"
fi
export PYTHONUNBUFFERED=1
run_py() { LD_PRELOAD="${PRE:-}" python3 "$@"; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
run_py -c "import openmm as o; print(o.__version__, [o.Platform.getPlatform(i).getName() for i in range(o.Platform.getNumPlatforms())], o.Platform.getPluginLoadFailures())"
PLATFORM=${PLATFORM:-CUDA}
[ "${TP_PS:-100}" != "0" ] && LD_PRELOAD="${PRE:-}" timeout 150 python3 benchmarks/simdata/throughput.py run --ps "${TP_PS:-100}" --repeats 2 \
  --platform "$PLATFORM" --out "$OUTDIR/throughput_gpu.json" --scratch /tmp/simdata_tp
LD_PRELOAD="${PRE:-}" timeout "$MD_TIMEOUT" python3 benchmarks/simdata/validate.py simulate \
  --procs "${PROCS:-13}" --platform "$PLATFORM" --rows "$OUTDIR/rows_gpu.jsonl" --scratch /tmp/simdata_md ${EXTRA:-}
echo "validate simulate rc=$?"
# keep the stage checkpoints of every job (portable OpenMM XML states) so that
# unfinished jobs can be resumed elsewhere
tar -C /tmp -czf "$OUTDIR/md_states.tar.gz" simdata_md 2>/dev/null || true
ls -la "$OUTDIR"
