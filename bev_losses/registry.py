"""MMEngine registries of bev-losses, under the scope ``bev_losses``.

Each registry is a child of MMEngine's root registry of the same kind, so a config written for
any default scope (``mmdet3d``, ``mmdet``, or none) builds ``type='bev_losses.FocalLoss'``:
MMEngine imports ``bev_losses.registry`` by the scope prefix, finds these children, and imports
the ``locations`` on first look-up. ``custom_imports=dict(imports=['bev_losses'])`` works too.

Nothing here is registered into another package's registry and nothing uses ``force=True``.

``bev_losses.losses`` needs torch only. ``bev_losses.models`` (the mmdet3d heads and detectors),
``bev_losses.evaluation`` and ``bev_losses.datasets`` import mmdet3d, and are only imported when
a name is looked up in these registries (never by ``import bev_losses``).
"""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry


class _ModelRegistry(Registry):
    """The models registry, which also fixes a user's ``Anchor3DHead`` subclass on first use.

    ``type='bev_losses.MyHead'`` where ``MyHead`` is not registered here but is an
    ``Anchor3DHead`` descendant in mmdet3d's registry (a user's head, registered by the config's
    ``custom_imports``) returns ``bev_losses.models.fix_anchor_head(MyHead)`` (registered as
    ``bev_losses.MyHead`` from then on). mmdet3d is imported only for such a miss.
    """

    def get(self, key):
        obj = super().get(key)
        if obj is not None or not isinstance(key, str):
            return obj
        scope, name = self.split_scope_key(key)
        if scope not in (None, self.scope) or not name.isidentifier():
            return None
        try:
            from bev_losses.models.anchor3d_head import fixed_head_for
        except ImportError:  # mmdet3d not installed: nothing to fix
            return None
        return fixed_head_for(name)


#: Losses, heads and detectors: ``type='bev_losses.X'`` in ``model=dict(...)``.
MODELS = _ModelRegistry('model', parent=MMENGINE_MODELS, scope='bev_losses',
                        locations=['bev_losses.losses', 'bev_losses.models'])
#: Evaluation metrics: ``val_evaluator=dict(type='bev_losses.BEVDetectionMetric')``.
METRICS = Registry('metric', parent=MMENGINE_METRICS, scope='bev_losses',
                   locations=['bev_losses.evaluation'])
#: Datasets: ``dataset=dict(type='bev_losses.SyntheticBEVDataset')``.
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='bev_losses',
                    locations=['bev_losses.datasets'])
#: Data transforms.
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, scope='bev_losses',
                      locations=['bev_losses.datasets'])
#: Hooks.
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='bev_losses',
                 locations=['bev_losses.engine'])

__all__ = ['MODELS', 'METRICS', 'DATASETS', 'TRANSFORMS', 'HOOKS']
