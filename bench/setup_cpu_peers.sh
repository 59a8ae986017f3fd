#!/bin/bash
# Install step of bench/compare_cpu_peers.py: a virtual environment of its own (default
# build/peers-venv) with OpenVINO and ONNX Runtime from PyPI. --system-site-packages keeps Debian's
# torch and numpy visible (the PyTorch twin exports the ONNX model). Nothing here is a dependency of
# the library (scripts/install-deps.sh does not list these).
#   bash bench/setup_cpu_peers.sh [VENV_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/build/peers-venv}"
if [ ! -x "$VENV/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
# numpy stays Debian's (torch 1.13 from Debian is built against it): pin it to the installed version
# so that pip does not pull a newer one into the venv.
NUMPY_VERSION="$(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)')"
"$VENV/bin/python" -m pip install --upgrade "numpy==$NUMPY_VERSION" openvino onnxruntime
"$VENV/bin/python" - <<'PY'
import numpy, onnxruntime, openvino, torch
print("peers venv ok: openvino", openvino.__version__, "| onnxruntime", onnxruntime.__version__,
      "| torch", torch.__version__, "| numpy", numpy.__version__)
PY
echo "venv: $VENV  (run: $VENV/bin/python bench/compare_cpu_peers.py --help)"
