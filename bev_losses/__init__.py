"""bev-losses: drop-in losses for BEV 3D detectors (MMEngine / mmdet3d).

``import bev_losses`` needs torch and MMEngine only. The losses are registered in the MMEngine
registry scope ``bev_losses`` (``type='bev_losses.FocalLoss'`` in any mmdet3d config). The
mmdet3d heads (``bev_losses.CenterHead``, ``bev_losses.Anchor3DHead``), the metric and the data
set live in sub-packages that import mmdet3d and are loaded by the registry on first use.
"""
from . import losses, ops
from .losses import *  # noqa: F401,F403
from .losses import __all__ as _losses_all
from .registry import MODELS
from .version import __version__

__all__ = ['__version__', 'MODELS', 'losses', 'ops'] + list(_losses_all)
