"""``bev_losses.Anchor3DHead``: mmdet3d's anchor head (SECOND / PointPillars) for any loss class.

mmdet3d 1.4's ``Anchor3DHead.__init__`` decides two things from the *config dict* of
``loss_cls`` rather than from the built loss:

* ``sampling = loss_cls['type'] not in ['mmdet.FocalLoss', 'mmdet.GHMC']``: any other type
  string (``'bev_losses.FocalLoss'``, ``'FocalLoss'`` with ``_scope_``, a class object) turns
  anchor sampling on. The head then needs ``train_cfg.sampler`` (PointPillars' config has none:
  ``AttributeError`` at construction), and if one is given, ``avg_factor`` silently becomes
  positives + negatives instead of positives.
* ``use_sigmoid_cls = loss_cls.get('use_sigmoid', False)``: a loss whose ``use_sigmoid`` defaults
  to ``True`` (``bev_losses.FocalLoss``) but is not spelled in the config gets a softmax-sized
  classifier (``num_classes + 1`` outputs per anchor).

This subclass takes both from the built module (``self.loss_cls``). One more fix, for a softmax
classification loss only: mmdet3d labels background anchors ``num_classes``, which for a
softmax-sized classifier (``num_classes`` already counts the background) is one past the last
column, so every softmax loss fails on it (labels out of range). The loss here sees them as the
background column ``num_classes - 1``. Nothing else changes.
"""
from typing import Optional

import torch
from mmdet3d.models.dense_heads import Anchor3DHead as _MMDet3DAnchor3DHead
from torch import nn

from bev_losses.registry import MODELS

__all__ = ['Anchor3DHead', 'is_sampling_free_cls_loss']


def _sampling_free_classes() -> tuple:
    """Loss classes that weigh every anchor themselves (focal-type), so need no sampler."""
    classes = []
    try:  # the mmdet classes mmdet3d's string test means
        from mmdet.models.losses import GHMC, FocalLoss
        classes += [FocalLoss, GHMC]
    except ImportError:  # pragma: no cover - mmdet is installed with mmdet3d
        pass
    import bev_losses.losses as bev_losses_losses
    focal = getattr(bev_losses_losses, 'FocalLoss', None)
    if focal is not None:
        classes.append(focal)
    return tuple(classes)


def is_sampling_free_cls_loss(loss: nn.Module) -> bool:
    """Whether an anchor head should train ``loss`` on all anchors without a sampler.

    True for focal-type losses (mmdet's ``FocalLoss`` and ``GHMC``, ``bev_losses.FocalLoss`` and
    subclasses of any of them), and for any module with a boolean attribute
    ``sampling_free = True`` (a hook for user losses). False otherwise, as in mmdet3d.
    """
    flag = getattr(loss, 'sampling_free', None)
    if isinstance(flag, bool):
        return flag
    return isinstance(loss, _sampling_free_classes())


@MODELS.register_module()
class Anchor3DHead(_MMDet3DAnchor3DHead):
    """mmdet3d's ``Anchor3DHead`` deciding sampling and sigmoid from the built ``loss_cls``.

    Same arguments as ``mmdet3d.models.dense_heads.Anchor3DHead``, plus:

    Args:
        sampling: ``None`` (default) decides from the built classification loss: no sampler for a
            focal-type loss (see :func:`is_sampling_free_cls_loss`), a sampler otherwise, which
            matches mmdet3d for ``'mmdet.FocalLoss'`` / ``'mmdet.GHMC'`` and extends it to every
            spelling of those and to ``bev_losses.FocalLoss``. ``True`` / ``False`` force it.

    ``use_sigmoid_cls`` is the built loss's ``use_sigmoid`` attribute when it has one (else the
    config value, as in mmdet3d), and ``num_classes`` gets the background class only for a
    softmax loss. Outputs, targets and the loss dict (``loss_cls``, ``loss_bbox``, ``loss_dir``,
    one entry per feature level) are those of mmdet3d's head.
    """

    def __init__(self, num_classes: int, in_channels: int, *args,
                 sampling: Optional[bool] = None, **kwargs) -> None:
        if sampling is not None and not isinstance(sampling, bool):
            raise TypeError(f'sampling must be None or a bool, got {sampling!r}')
        # Set before the parent constructor, which calls the two hooks below.
        object.__setattr__(self, '_sampling_override', sampling)
        super().__init__(num_classes, in_channels, *args, **kwargs)

    def _init_layers(self) -> None:
        # Called by the parent after ``self.loss_cls`` is built and before any layer exists.
        use_sigmoid = getattr(self.loss_cls, 'use_sigmoid', None)
        if isinstance(use_sigmoid, bool) and use_sigmoid != self.use_sigmoid_cls:
            # The parent added a background class iff the config dict said softmax.
            self.num_classes += -1 if use_sigmoid else 1
            self.use_sigmoid_cls = use_sigmoid
        super()._init_layers()

    def _init_assigner_sampler(self) -> None:
        # Called by the parent after ``self.loss_cls`` is built; replaces the type-string test.
        override = self._sampling_override
        self.sampling = (not is_sampling_free_cls_loss(self.loss_cls)
                         if override is None else override)
        super()._init_assigner_sampler()

    def _loss_by_feat_single(self, cls_score, bbox_pred, dir_cls_pred, labels, label_weights,
                             bbox_targets, bbox_weights, dir_targets, dir_weights,
                             num_total_samples):
        """mmdet3d's loss of one level; with a softmax loss, background labels fit the classifier.

        ``labels`` ``(B, H * W * A)`` hold a class in ``[0, C)`` for positive anchors and
        ``num_classes`` for the others. With a sigmoid loss ``num_classes == C``, which is the
        background index that loss expects: unchanged. With a softmax loss ``num_classes ==
        C + 1`` (the classifier's width, background column ``C``): those labels become ``C``.
        The box and direction terms are unaffected: their weights are zero off the positives.
        """
        if not self.use_sigmoid_cls:
            labels = torch.where(labels == self.num_classes,
                                 torch.full_like(labels, self.num_classes - 1), labels)
        return super()._loss_by_feat_single(
            cls_score, bbox_pred, dir_cls_pred, labels, label_weights, bbox_targets,
            bbox_weights, dir_targets, dir_weights, num_total_samples)
