"""Give mmdet3d's CenterHead task heads the heatmap bias they are meant to start with.

mmdet3d's ``CenterHead`` keeps its ``SeparateHead`` task heads in a plain ``nn.ModuleList``,
which MMEngine's ``BaseModule.init_weights`` does not descend into, so the heads' own
``init_weights`` never runs: the heatmap bias stays at PyTorch's default (near 0) instead of
``init_bias`` (-2.19, i.e. p = 0.1), every heatmap cell starts near p = 0.5 and the first
iterations go into unlearning that (open-mmlab/mmdetection3d#1554, open as of mmdet3d 1.4).

This hook sets that bias in ``before_run``. The Runner calls ``before_run`` before its own weight
initialisation (which leaves these heads alone) and before loading or resuming a checkpoint
(which then overwrites them), so resumed and tested models are unaffected; in distributed runs
the Runner broadcasts rank 0's weights after initialisation.

``mode='bias'`` (default) only sets the heatmap bias. ``mode='full'`` runs the heads' whole
``init_weights`` (also Kaiming-normal on every conv of the task heads, mmdet3d's intent); on the
small CPU models this starts the heatmap logits with a spread of about 2 and trains slower, so it
is not the default.
"""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..registry import HOOKS

_HEADS = ('SeparateHead', 'DCNSeparateHead')


@HOOKS.register_module()
class SeparateHeadInitHook(Hook):
    """Set ``init_bias`` on the heatmap output of every (DCN)SeparateHead never initialised.

    Args:
        mode: ``'bias'`` (the heatmap bias only) or ``'full'`` (the heads' ``init_weights``).
    """

    priority = 'VERY_HIGH'

    def __init__(self, mode: str = 'bias') -> None:
        if mode not in ('bias', 'full'):
            raise ValueError(f"mode must be 'bias' or 'full', got {mode!r}")
        self.mode = mode

    def before_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        count = 0
        for module in model.modules():
            if type(module).__name__ not in _HEADS or getattr(module, 'is_init', False):
                continue
            if self.mode == 'full':
                module.init_weights()
            else:
                last = (module.heatmap[-1] if type(module).__name__ == 'SeparateHead'
                        else module.cls_head[-1])
                last.bias.data.fill_(module.init_bias)
            count += 1
        if count:
            runner.logger.info(f'SeparateHeadInitHook: set the heatmap bias of {count} task '
                               f'head(s) (mode={self.mode!r}; mmdet3d#1554)')
