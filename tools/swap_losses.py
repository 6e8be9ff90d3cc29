#!/usr/bin/env python
"""Convert an mmdet3d config to bev-losses' losses and fixed heads (README, "Convert your config").

    python tools/swap_losses.py SRC_CONFIG -o OUT_CONFIG [--dry-run] [--no-check]

Prints each change (key path, old, new), what was left alone and why, and the check (the
original and the converted model built and compared). Exit status: 0 converted, 1 cannot be
converted (the message says why), 2 usage. The logic lives in ``bev_losses.convert``
(``swap_losses(src, out)`` from Python).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout

from bev_losses.convert import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
