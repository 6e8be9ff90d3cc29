#!/usr/bin/env bash
# Distributed training with torchrun (gloo on a machine without CUDA, see tools/train.py):
#   bash tools/dist_train.sh CONFIG NPROC [train.py arguments ...]
#   e.g. bash tools/dist_train.sh configs/small_bev/centerpoint_synthetic.py 2 --work-dir work_dirs/ddp
# NNODES, NODE_RANK, MASTER_ADDR and PORT are read from the environment (single node by default).
set -euo pipefail
if [ "$#" -lt 2 ]; then
  echo "usage: $0 CONFIG NPROC [tools/train.py arguments ...]" >&2
  exit 2
fi
CONFIG=$1
NPROC=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
DIR="$(cd "$(dirname "$0")" && pwd)"
PYTHON=${PYTHON:-python}
if [ -x "$DIR/../.venv/bin/python" ] && [ "$PYTHON" = python ]; then
  PYTHON="$DIR/../.venv/bin/python"
fi
PYTHONPATH="$DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
  --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
  --nproc_per_node="$NPROC" --master_port="$PORT" \
  "$DIR/train.py" "$CONFIG" --launcher pytorch "$@"
