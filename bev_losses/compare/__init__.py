"""The loss comparison, the main job of bev-losses (``tools/compare_losses.py`` is its command
line).

- ``runs``: the run plans (config x seed), their configs, the training subprocesses side by side,
  interrupt safety, the data sets every run shares;
- ``evaluate``: the validation cache shared by the runs, evaluation of a checkpoint, the
  predictions and the frame bootstrap of each run;
- ``stats``: paired differences, the interval over seeds (Student t), the paired bootstrap over
  frames, the verdict (numpy only);
- ``report``: the comparison against the baseline, ``comparison.md`` / ``.csv``, the plots;
- ``cli``: ``parse_args`` and ``main``.

Not imported by ``import bev_losses``; importing it adds numpy to what ``import bev_losses``
loads (mmdet3d and matplotlib are imported where they are used).
"""
from .stats import (BETTER, HIGHER_IS_BETTER, NO_DIFFERENCE, WORSE, bootstrap_indices,
                    bootstrap_interval, paired_t_interval, student_t_cdf, student_t_ppf,
                    verdict)

__all__ = ['BETTER', 'WORSE', 'NO_DIFFERENCE', 'HIGHER_IS_BETTER', 'paired_t_interval',
           'bootstrap_indices', 'bootstrap_interval', 'student_t_cdf', 'student_t_ppf',
           'verdict', 'main']


def main(argv=None) -> int:
    """``tools/compare_losses.py``'s entry point."""
    from .cli import main as _main
    return _main(argv)
