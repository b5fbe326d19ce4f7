#!/usr/bin/env bash
# The CUDA benchmarks on a GPU host with no network (docs/benchmarks.md names the host each figure ran on).
#
#   bench/cuda.sh kit              # here, with network: the wheels such a host lacks, into .whl/
#   bench/cuda.sh run [ARGS...]    # there, in a copy of this tree with .whl/: install them, run the bench
#
# The host is expected to hold Python with torch, torchvision, numpy, safetensors, tqdm, httpx, pillow and pytest
# (a CUDA image); `kit` gathers the rest of what the bench imports, at the versions this tree's .venv has (the
# ones its tests ran with). PY_VERSION (default 3.12) is the host's Python. `run` installs them beside the host's
# torch (--target, nothing of the host's replaced), checks that everything imports, runs the CUDA tests (CUDA's
# answers against the CPU's), then `python -m bench.batch`: the x3d_m batch on 60 five-minute files, ARGS added
# (a flag given again wins). Logs and docs/benchmarks.md go into $OUT when that is set. `run e2e` runs the two
# CUDA end-to-end sections instead.
set -euo pipefail
SCRIPT="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$SCRIPT")/.."

# What the bench imports, with what those need, less what such an image holds.
BINARY="av pydantic-core pyyaml"
PURE="pydantic pydantic-settings python-dotenv annotated-types typing-inspection pytorchvideo fvcore iopath yacs
      termcolor tabulate portalocker parameterized redis scikit-video"
BATCH=(--device cuda --videos 60 --gop 250 --heavy x3d_m --size 224 --frames 16)

pinned() {  # NAME==VERSION for each name, as installed in .venv (fails, naming it, if one is not)
  .venv/bin/python -c "import importlib.metadata as m, sys; print(*(f'{n}=={m.version(n)}' for n in sys.argv[1:]))" "$@"
}

kit() {
  local py=${PY_VERSION:-3.12}
  [ -x .venv/bin/python ] || { echo "no .venv here: run 'make .venv/.installed' first" >&2; exit 2; }
  local binary pure
  # shellcheck disable=SC2086
  binary=$(pinned $BINARY)  # before anything is removed (a name not in .venv stops the kit here)
  # shellcheck disable=SC2086
  pure=$(pinned $PURE)
  rm -rf .whl && mkdir -p .whl
  # shellcheck disable=SC2086
  .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version "$py" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl $binary
  # shellcheck disable=SC2086
  .venv/bin/python -m pip wheel -q --no-deps -w .whl $pure  # pure Python: some ship only sources
  du -sh .whl
}

run() {
  [ -d .whl ] || { echo "no .whl/ here: run 'bench/cuda.sh kit' where there is network, and bring .whl/" >&2; exit 2; }
  local site=/tmp/vidgate-site logs=${OUT:-/tmp} status=0
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
  export PYTHONPATH="$site:$PWD" PYTHONUNBUFFERED=1
  python3 - <<'EOF'
import torch, av, pytorchvideo, pydantic_settings  # noqa: F401  (what the host must now have)
import bench.batch, bench.e2e, pipelines.recognizer, pipelines.decoding._child  # noqa: F401
print(f"torch {torch.__version__}, PyAV {av.__version__}, CUDA available: {torch.cuda.is_available()}",
      *(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())), sep="; ")
EOF
  # The CUDA path against the CPU's answers first (seconds); the bench runs whatever they say.
  if ! python3 -c "import pytest" 2>/dev/null; then
    echo "pytest is not on this host: the CUDA tests did not run" | tee "$logs/cuda-tests.log"
  elif ! timeout 300 python3 -m pytest -q -p no:cacheprovider tests/pipelines/test_cuda.py 2>&1 \
      | tee "$logs/cuda-tests.log"; then
    echo "the CUDA tests did not pass (above): the bench runs anyway"
  fi
  if [ "${1:-}" = e2e ]; then
    { python3 -m bench.e2e --footage --gop 250 --repeats 3 --device cuda --heavy x3d_m --size 224 --frames 16 &&
      python3 -m bench.e2e --footage --gop 250 --repeats 3 --device cuda; } 2>&1 | tee "$logs/bench.log" || status=$?
  else
    python3 -m bench.batch "${BATCH[@]}" "$@" 2>&1 | tee "$logs/bench.log" || status=$?
  fi
  if [ -n "${OUT:-}" ]; then cp docs/benchmarks.md "$OUT/"; fi  # the sections written, even after a failure
  return "$status"
}

case "${1:-}" in
  kit) kit ;;
  run) shift; run "$@" ;;
  *) sed -n '2,13p' "$SCRIPT" >&2; exit 2 ;;
esac
