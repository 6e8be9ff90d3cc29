"""Train the same small BEV detector with different losses and compare them: the main job.

    python tools/compare_losses.py [CONFIG ...] [--work-dir DIR] [--seeds S ...] [--max-iters N]
                                   [--jobs J] [--threads T] [--bootstrap B] [--baseline NAME]
                                   [--cfg-options key=value ...]

Without CONFIG it runs the default matrix, ``configs/compare/*.py`` in file-name order (the mmdet
baseline first), with seeds 0, 1 and 2. Every run trains in a ``tools/train.py`` subprocess, the
CPU count of them side by side; each row is compared with the baseline run of the same seed
(paired differences in mAP, NDS, mATE, mASE, mAOE, mAVE, a 95 % interval over the seeds and a
paired bootstrap over the validation frames) and gets a verdict: ``better`` / ``worse`` where
both intervals exclude zero, ``no difference detected`` otherwise. Writes, under DIR (default
``work_dirs/compare``): ``comparison.md`` (the findings in plain words, the table, the
differences), ``comparison.csv`` (one row per config and seed), ``loss_curves.png``,
``metrics.png`` (each row's difference to the baseline with its intervals), ``bev_scenes.png``
and one folder per run. An interrupted comparison continues where it stopped when started again
with the same arguments.

The logic lives in ``bev_losses.compare`` (runs, statistics, report); details in
docs/main_job.md.
"""
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:  # `python tools/compare_losses.py` from a checkout
    sys.path.insert(0, REPO_ROOT)

from bev_losses.compare.cli import main, parse_args  # noqa: E402,F401

if __name__ == '__main__':
    sys.exit(main())
