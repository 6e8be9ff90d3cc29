"""mmdet3d-dependent models (heads). Imported by the registry on look-up only.

``bev_losses.Anchor3DHead`` and ``bev_losses.CenterHead`` are thin subclasses of mmdet3d's heads
that work with any loss class (README, "Swapping losses"). Importing this package imports
mmdet3d; ``import bev_losses`` never does.
"""
from .anchor3d_head import Anchor3DHead, is_sampling_free_cls_loss
from .center_head import CenterHead, decode_center_boxes

__all__ = ['Anchor3DHead', 'CenterHead', 'decode_center_boxes', 'is_sampling_free_cls_loss']
