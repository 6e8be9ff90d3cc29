#!/usr/bin/env bash
# One-command, idempotent set-up of the bev-losses development stack.
#
#   bash scripts/setup_env.sh            # or: make setup
#
# Creates a project-local virtual environment (.venv by default) holding
#   torch 2.13.0 (CPU), setuptools<70 + wheel, mmcv 2.1.0 built with its compiled ops,
#   numpy<2, mmengine 0.10.7, mmdet 3.3.0, mmdet3d 1.4.0, the test tools, and bev-losses
#   itself in editable mode.
# Every step first checks whether it is already satisfied, so a second run costs seconds.
#
# Variables:
#   VENV=.venv                 where the virtual environment lives
#   PYTHON=python3             interpreter used to create it (Python 3.11 is what we test)
#   TORCH_SPEC="torch==2.13.0" what to install for torch. A CUDA user picks their own, e.g.
#                              TORCH_SPEC="torch==2.1.2" TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu118"
#   TORCH_PIP_ARGS=""          extra pip arguments for the torch step only
#   MAX_JOBS=2                 parallel compile jobs for the mmcv build
#   PIP_FIND_LINKS             honoured by pip as usual (e.g. a folder holding a prebuilt mmcv wheel)
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
TORCH_PIP_ARGS=${TORCH_PIP_ARGS:-}
export MAX_JOBS=${MAX_JOBS:-2}

step=""
say() { printf '\n[setup] %s\n' "$*"; }
fail() {
  local rc=$?
  printf '\n[setup] FAILED at step: %s (exit code %s)\n' "$step" "$rc" >&2
  printf '[setup] fix the error above and re-run: finished steps are skipped.\n' >&2
  exit "$rc"
}
trap fail ERR

step="create virtual environment $VENV"
if [ -x "$VENV/bin/python" ]; then
  say "virtual environment $VENV exists: skipped"
else
  say "$step with $($PYTHON --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check)

have() {  # have MODULE [VERSION-PREFIX]: is the module importable (at that version)?
  "$PY" - "$@" <<'PYEOF' >/dev/null 2>&1
import importlib, sys
mod = importlib.import_module(sys.argv[1])
if len(sys.argv) > 2 and not mod.__version__.startswith(sys.argv[2]):
    sys.exit(1)
PYEOF
}

step="install $TORCH_SPEC"
torch_version=${TORCH_SPEC#*==}
if [ "$torch_version" != "$TORCH_SPEC" ] && have torch "$torch_version"; then
  say "torch $torch_version present: skipped"
elif [ "$torch_version" = "$TORCH_SPEC" ] && have torch; then
  say "torch present ($TORCH_SPEC has no exact pin): skipped"
else
  say "$step"
  # shellcheck disable=SC2086
  "${PIP[@]}" $TORCH_PIP_ARGS "$TORCH_SPEC"
fi

step="install mmcv 2.1.0 with compiled ops"
if have mmcv 2.1.0 && "$PY" -c "import mmcv.ops" >/dev/null 2>&1; then
  say "mmcv 2.1.0 with ops present: skipped"
else
  step="install mmcv's build tools (setuptools<70, wheel)"
  say "$step: mmcv's setup.py imports pkg_resources"
  "${PIP[@]}" "setuptools<70" wheel
  step="install mmcv 2.1.0 with compiled ops"
  say "$step. If no prebuilt wheel is found this COMPILES mmcv from source:" \
      "about 10 minutes on 2 cores (MAX_JOBS=$MAX_JOBS). Nothing is wrong if it is quiet."
  MMCV_WITH_OPS=1 "${PIP[@]}" --no-build-isolation "mmcv==2.1.0" "numpy<2"
  "$PY" -c "import mmcv.ops" || { echo "[setup] mmcv installed but mmcv.ops does not import" >&2; false; }
fi

step="install numpy<2, mmengine 0.10.7, mmdet 3.3.0, mmdet3d 1.4.0"
if have mmengine 0.10.7 && have mmdet 3.3.0 && have mmdet3d 1.4.0 && "$PY" -c "import numpy, sys; sys.exit(int(numpy.__version__.split('.')[0]) >= 2)"; then
  say "mmengine, mmdet, mmdet3d present: skipped"
else
  say "$step"
  "${PIP[@]}" "numpy<2" "mmengine==0.10.7" "mmdet==3.3.0" "mmdet3d==1.4.0" "$TORCH_SPEC"
fi

step="install bev-losses (editable) with its test tools"
if "$PY" -c "import bev_losses, pytest, hypothesis, shapely, matplotlib" >/dev/null 2>&1 \
   && "$PY" -m pip show -q bev-losses >/dev/null 2>&1 \
   && [ ! setup.py -nt "$VENV/.bev_losses_installed" ]; then
  say "bev-losses and test tools present: skipped"
else
  say "$step"
  "${PIP[@]}" --no-build-isolation -e ".[test]" "$TORCH_SPEC" "numpy<2"
  touch "$VENV/.bev_losses_installed"
fi

step="check the stack"
"$PY" - <<'PYEOF'
import sys
import torch, mmcv, mmcv.ops, mmengine, mmdet, mmdet3d, numpy
print(f"[setup] ok: python {sys.version.split()[0]}, torch {torch.__version__}, mmcv {mmcv.__version__} (ops), "
      f"mmengine {mmengine.__version__}, mmdet {mmdet.__version__}, mmdet3d {mmdet3d.__version__}, numpy {numpy.__version__}")
PYEOF
