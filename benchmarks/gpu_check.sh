#!/usr/bin/env bash
# GPU check, prepared to run in a few minutes on a machine with an NVIDIA GPU and no network:
# installs the project from the wheels it brings (.whl/), runs the CUDA-marked tests (the CUDA
# provider is really used, IO binding equals the CPU within float tolerance, float16 stays float16)
# and `benchmarks/run.py --device cuda`, and writes benchmarks/RESULTS_cuda.md.
#
#   benchmarks/gpu_check.sh --download   # on a machine with PyPI access: fill .whl/ (same Python minor version)
#   benchmarks/gpu_check.sh              # on the GPU machine, from the repository root or anywhere
#
# Environment: PYTHON (default python3), VENV (default a fresh folder under /tmp), REPEATS (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
WHEELS=.whl
REPEATS=${REPEATS:-5}
ORT_GPU="onnxruntime-gpu[cuda,cudnn]>=1.20"  # ONNX Runtime with its CUDA 12 / cuDNN 9 wheels

if [[ "${1:-}" == "--download" ]]; then
    mkdir -p "$WHEELS"
    "$PYTHON" -m pip wheel --no-deps -w "$WHEELS" .
    mapfile -t DEPENDENCIES < <("$PYTHON" - <<'EOF'
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["test"]))
EOF
)
    "$PYTHON" -m pip download -d "$WHEELS" --only-binary=:all: "$ORT_GPU" "${DEPENDENCIES[@]}"
    echo "gpu_check: wheels in $WHEELS/ ($(ls "$WHEELS" | wc -l) files); copy the repository with them to the GPU machine"
    exit 0
fi

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L; then
    echo "gpu_check: no NVIDIA GPU visible (nvidia-smi failed); nothing to check here" >&2
    exit 3
fi
if [[ ! -d "$WHEELS" ]]; then
    echo "gpu_check: no $WHEELS/ folder; run 'benchmarks/gpu_check.sh --download' where PyPI is reachable" >&2
    exit 3
fi

VENV=${VENV:-$(mktemp -d /tmp/auditor-gpu.XXXXXX)}
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --no-index --find-links "$WHEELS" "onnx-auditor[test]" "$ORT_GPU"
"$VENV/bin/python" - <<'EOF'
import onnxruntime as ort
from auditor.model.session import cuda_available
print("onnxruntime", ort.__version__, ort.get_available_providers())
assert cuda_available(), "the CUDA execution provider does not load on this machine (driver, CUDA 12 / cuDNN 9 libraries?)"
EOF

# CUDA-marked tests (tests/perf/test_perf_cuda.py and any other -m cuda test), then the CPU perf tests as a control.
"$VENV/bin/python" -m pytest -q -p no:cacheprovider -m cuda tests
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/perf

"$VENV/bin/python" benchmarks/run.py --device cuda --repeats "$REPEATS" --out benchmarks/RESULTS_cuda.md
echo "gpu_check: table written to benchmarks/RESULTS_cuda.md"
