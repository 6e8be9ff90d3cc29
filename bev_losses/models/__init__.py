"""mmdet3d-dependent models (heads). Imported by the registry on look-up only.

``bev_losses.Anchor3DHead`` (and ``bev_losses.ShapeAwareHead``, ``bev_losses.FreeAnchor3DHead``,
``bev_losses.PartA2RPNHead``: every ``Anchor3DHead`` descendant of mmdet3d, made by
:func:`fix_anchor_head`) and ``bev_losses.CenterHead`` are thin subclasses of mmdet3d's heads
that work with any loss class (README, "Swapping losses"). ``bev_losses.FlatBatchNorm1d`` is a
faster CPU ``norm_cfg`` for mmdet3d's pillar encoders. Importing this package imports
mmdet3d; ``import bev_losses`` never does.
"""
from .anchor3d_head import (Anchor3DHead, AnchorHeadFixMixin, FreeAnchor3DHead, PartA2RPNHead,
                            ShapeAwareHead, fix_anchor_head, fix_registered_anchor_heads,
                            is_fixed_anchor_head, is_sampling_free_cls_loss)
from .center_head import CenterHead, decode_center_boxes
from .flat_batch_norm import FlatBatchNorm1d

__all__ = ['Anchor3DHead', 'AnchorHeadFixMixin', 'CenterHead', 'FlatBatchNorm1d', 'FreeAnchor3DHead',
           'PartA2RPNHead', 'ShapeAwareHead', 'decode_center_boxes', 'fix_anchor_head',
           'fix_registered_anchor_heads', 'is_fixed_anchor_head', 'is_sampling_free_cls_loss']
