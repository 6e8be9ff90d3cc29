"""Apply the initialisation mmdet3d's CenterHead means to give its task heads.

mmdet3d's ``CenterHead`` keeps its ``SeparateHead`` task heads in a plain ``nn.ModuleList``,
which MMEngine's ``BaseModule.init_weights`` does not descend into, so the heads' own
``init_weights`` never runs: the heatmap bias stays near 0 instead of ``init_bias`` (-2.19), every
heatmap cell starts at p ~ 0.5 and the first hundreds of iterations go into unlearning that
(open-mmlab/mmdetection3d#1554, open as of mmdet3d 1.4). This hook runs those ``init_weights``
once in ``before_run``, so every loss compared starts from the intended initialisation. The
Runner calls ``before_run`` before its own weight initialisation (which leaves these heads alone)
and before loading or resuming a checkpoint (which then overwrites them), so resumed and tested
models are unaffected, and in distributed runs the Runner broadcasts the result from rank 0.
"""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..registry import HOOKS


@HOOKS.register_module()
class SeparateHeadInitHook(Hook):
    """Call ``init_weights`` of every (DCN)SeparateHead that was never initialised.

    Runs in ``before_run``: before the Runner's ``init_weights`` and checkpoint loading.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        count = 0
        for module in model.modules():
            if (type(module).__name__ in ('SeparateHead', 'DCNSeparateHead')
                    and not getattr(module, 'is_init', False)
                    and hasattr(module, 'init_weights')):
                module.init_weights()
                count += 1
        if count:
            runner.logger.info(f'SeparateHeadInitHook: initialised {count} task head(s) '
                               '(mmdet3d#1554: CenterHead skips them)')
