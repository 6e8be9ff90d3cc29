#!/usr/bin/env bash
# The loss core on the oldest versions setup.py declares: Python 3.8, torch 2.1.2, MMEngine
# 0.10.7 (no mmdet / mmcv: the tests that compare with mmdet or build mmdet3d models skip).
#
#   bash scripts/test_oldest.sh        # or: make test-oldest
#
# Needs a python3.8 (PYTHON38=...; pyenv's is found by default) and downloads torch 2.1.2 with
# its CUDA libraries from PyPI (about 2.5 GB, the only Linux build PyPI has), into VENV_OLD.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV_OLD=${VENV_OLD:-.venv-oldest}
PYTHON38=${PYTHON38:-$(command -v python3.8 || echo "$HOME/.pyenv/versions/3.8.18/bin/python3.8")}
if [ ! -x "$VENV_OLD/bin/python" ]; then
  echo "[oldest] creating $VENV_OLD with $("$PYTHON38" --version)"
  "$PYTHON38" -m venv "$VENV_OLD"
fi
"$VENV_OLD/bin/python" -m pip install -q --disable-pip-version-check \
  "torch==2.1.2" "numpy<2" "mmengine==0.10.7" pytest hypothesis shapely
PYTHONPATH="$PWD" "$VENV_OLD/bin/python" -m pytest -q -p no:cacheprovider \
  tests/test_loss_gpu_ready.py tests/test_loss_kl_div.py tests/test_mixed_precision.py \
  tests/test_nan_and_bad_input.py tests/test_properties.py tests/test_rotated_iou.py "$@"
