"""``bev_losses.CenterHead``: mmdet3d's CenterPoint head with a logits heatmap loss and an IoU term.

mmdet3d 1.4's ``CenterHead.loss_by_feat`` feeds the heatmap loss ``clip_sigmoid(heatmap)``: the
logits are turned into probabilities *in place* (``sigmoid_``) and clamped to ``[1e-4, 1 - 1e-4]``,
so the loss never sees logits and its gradient is cut where the clamp is active. This subclass
computes the parent's losses (the same loss dict, values tested equal) and adds two opt-in
behaviours:

1. when the built ``loss_cls`` has ``activated = False`` (``bev_losses.GaussianFocalLoss(
   activated=False)``), the heatmap loss gets the raw logits (no sigmoid, no clamp); prediction
   still applies the sigmoid as before;
2. ``loss_iou`` (for example ``bev_losses.GIoULoss(box_format='bev')`` or ``'3d'``): the boxes
   decoded from ``reg``, ``height``, ``dim``, ``rot`` at the positive locations are compared with
   the ground-truth boxes, added to the loss dict as ``task{i}.loss_iou``.

Unlike the parent, on a GPU the loss reads nothing back to the host and changes nothing in
place: target assignment (``get_targets_single``) is :func:`bev_losses.models.center_targets.
center_point_targets` (the parent's targets, tested equal, for all boxes at once instead of the
parent's Python loop with its host reads), the heatmap loss's ``avg_factor`` (the parent's
``max(num_pos, 1)`` through ``.item()``) stays a tensor, and the head's outputs are not modified
(the parent applies ``sigmoid_`` to ``heatmap`` and adds an ``anno_box`` entry). The whole loss
compiles into one graph (``torch.compile``; tests/test_loss_gpu_ready.py).
"""
from typing import List, Optional, Sequence, Tuple

import torch
from mmdet3d.models.dense_heads import CenterHead as _MMDet3DCenterHead
from mmdet3d.models.utils import clip_sigmoid
from mmengine.structures import InstanceData
from torch import Tensor

from bev_losses.registry import MODELS

from .center_targets import center_point_targets

__all__ = ['CenterHead', 'decode_center_boxes']

#: Log-dimensions are clamped to this range before ``exp`` in the IoU term (|log d| > 10 means
#: a box of more than 22 km or less than 45 um: only reached by a diverging regression).
_LOG_DIM_RANGE = (-10.0, 10.0)


def decode_center_boxes(box_code: Tensor, flat_ind: Tensor, feat_width: int,
                        out_size_factor: float, voxel_size: Sequence[float],
                        pc_range: Sequence[float], norm_bbox: bool = True) -> Tensor:
    """Turn CenterPoint box codes at feature-map cells into LiDAR boxes.

    The code is mmdet3d's ``CenterHead`` layout (``get_targets`` writes targets in it, and the
    head's ``reg``, ``height``, ``dim``, ``rot`` outputs concatenated are in it too).

    Args:
        box_code: ``(P, C)`` with ``C >= 8``: ``(off_x, off_y, z, d0, d1, d2, sin, cos, ...)``,
            the centre offset inside the cell (in cells), the gravity-centre height, the box
            size ``(dx, dy, dz)`` (its logarithm if ``norm_bbox``) and the yaw's sine and cosine.
        flat_ind: ``(P,)`` integer index ``row * feat_width + col`` of each cell.
        feat_width: width (number of columns) of the feature map.
        out_size_factor: voxels per feature-map cell.
        voxel_size: ``(vx, vy, ...)`` metres per voxel.
        pc_range: ``(x_min, y_min, ...)`` origin of the voxel grid.
        norm_bbox: whether the sizes are log-encoded.

    Returns:
        ``(P, 7)`` boxes ``(x, y, z, dx, dy, dz, yaw)`` with ``z`` the *bottom* face, as
        ``LiDARInstance3DBoxes`` (and ``bev_losses.GIoULoss(box_format='3d')``) expect.
    """
    if box_code.dim() != 2 or box_code.shape[1] < 8:
        raise ValueError(f'box_code must be (P, C>=8), got {tuple(box_code.shape)}')
    if flat_ind.shape != box_code.shape[:1]:
        raise ValueError(f'flat_ind must be ({box_code.shape[0]},), got {tuple(flat_ind.shape)}')
    col = (flat_ind % feat_width).to(box_code.dtype)
    row = torch.div(flat_ind, feat_width, rounding_mode='floor').to(box_code.dtype)
    x = (col + box_code[:, 0]) * (out_size_factor * voxel_size[0]) + pc_range[0]
    y = (row + box_code[:, 1]) * (out_size_factor * voxel_size[1]) + pc_range[1]
    dims = box_code[:, 3:6]
    if norm_bbox:
        dims = dims.clamp(*_LOG_DIM_RANGE).exp()
    yaw = torch.atan2(box_code[:, 6], box_code[:, 7])
    z_bottom = box_code[:, 2] - 0.5 * dims[:, 2]
    return torch.stack([x, y, z_bottom, dims[:, 0], dims[:, 1], dims[:, 2], yaw], dim=-1)


@MODELS.register_module()
class CenterHead(_MMDet3DCenterHead):
    """mmdet3d's ``CenterHead`` with an optional logits heatmap loss and an optional IoU loss.

    Same arguments as ``mmdet3d.models.dense_heads.CenterHead``, plus:

    Args:
        loss_iou: config of a loss on decoded boxes, called as
            ``loss_iou(pred_boxes, gt_boxes, avg_factor=num_pos)`` with ``(P, 5)`` boxes
            ``(x, y, dx, dy, yaw)`` if the built loss has ``box_format == 'bev'``, else ``(P, 7)``
            boxes ``(x, y, z, dx, dy, dz, yaw)`` (``z`` bottom), in metres in the LiDAR frame.
            ``None`` (default): no IoU term.

    The heatmap loss takes logits iff the built ``loss_cls`` has ``activated = False``;
    otherwise it gets mmdet3d's clipped sigmoid, as in the parent.

    Loss dict: ``task{i}.loss_heatmap``, ``task{i}.loss_bbox`` for every task, plus
    ``task{i}.loss_iou`` when ``loss_iou`` is set.
    """

    def __init__(self, *args, loss_iou: Optional[dict] = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.loss_iou = None if loss_iou is None else MODELS.build(loss_iou)

    def get_targets_single(self, gt_instances_3d: InstanceData
                           ) -> Tuple[List[Tensor], List[Tensor], List[Tensor], List[Tensor]]:
        """Targets of one sample, per task (the parent's, computed for all boxes at once).

        Args:
            gt_instances_3d: ``bboxes_3d`` (``N`` boxes with velocity, ``box_dim = 9``) and
                ``labels_3d`` ``(N,)``.

        Returns:
            Per task: heatmaps ``(K_t, H, W)``, box codes ``(max_objs, 10)``, indices
            ``(max_objs,)`` int64, masks ``(max_objs,)`` uint8; ``W, H`` = grid size //
            ``out_size_factor``.
        """
        labels = gt_instances_3d.labels_3d
        boxes_3d = gt_instances_3d.bboxes_3d
        boxes = torch.cat((boxes_3d.gravity_center, boxes_3d.tensor[:, 3:]),
                          dim=1).to(labels.device)
        cfg = self.train_cfg
        osf = cfg['out_size_factor']
        geometry = dict(
            feature_map_size=[int(g) // osf for g in cfg['grid_size'][:2]],
            # float32 tensors, as the parent builds them (the arithmetic follows their dtype)
            voxel_size=torch.tensor(cfg['voxel_size']),
            pc_range=torch.tensor(cfg['point_cloud_range']),
            out_size_factor=osf, gaussian_overlap=cfg['gaussian_overlap'],
            min_radius=cfg['min_radius'], max_objs=cfg['max_objs'] * cfg['dense_reg'],
            norm_bbox=self.norm_bbox)
        heatmaps, anno_boxes, inds, masks = [], [], [], []
        first = 0
        for names in self.class_names:
            heatmap, anno_box, ind, mask = center_point_targets(
                boxes, labels, first, len(names), **geometry)
            first += len(names)
            heatmaps.append(heatmap)
            anno_boxes.append(anno_box)
            inds.append(ind)
            masks.append(mask)
        return heatmaps, anno_boxes, inds, masks

    @property
    def heatmap_from_logits(self) -> bool:
        """True when the built ``loss_cls`` declares ``activated = False`` (takes logits)."""
        return getattr(self.loss_cls, 'activated', True) is False

    def loss_by_feat(self, preds_dicts: Tuple[List[dict]],
                     batch_gt_instances_3d: List[InstanceData], *args, **kwargs) -> dict:
        """Loss of every task; see the class docstring for the keys.

        Args:
            preds_dicts: per task, a one-element list (one feature level) of the dict of head
                outputs ``heatmap (B, K, H, W)``, ``reg (B, 2, H, W)``, ``height (B, 1, H, W)``,
                ``dim (B, 3, H, W)``, ``rot (B, 2, H, W)``, ``vel (B, 2, H, W)``.
            batch_gt_instances_3d: per sample, ``bboxes_3d`` and ``labels_3d``.
        """
        heatmaps, anno_boxes, inds, masks = self.get_targets(batch_gt_instances_3d)
        loss_dict = dict()
        for task_id, preds_dict in enumerate(preds_dicts):
            out = preds_dict[0]
            target_box, ind, mask = anno_boxes[task_id], inds[task_id], masks[task_id]

            heatmap = out['heatmap']
            if not self.heatmap_from_logits:
                heatmap = clip_sigmoid(heatmap.clone())
            # the parent's max(num_pos, 1), kept on the device
            num_pos = heatmaps[task_id].eq(1).float().sum().clamp(min=1)
            loss_dict[f'task{task_id}.loss_heatmap'] = self.loss_cls(
                heatmap, heatmaps[task_id], avg_factor=num_pos)

            # (B, max_objs, 10) box codes of the prediction at the target cells.
            box_code = torch.cat(
                [out['reg'], out['height'], out['dim'], out['rot'], out['vel']], dim=1)
            box_code = box_code.permute(0, 2, 3, 1).flatten(1, 2)
            pred = self._gather_feat(box_code, ind)

            valid = mask.unsqueeze(2).expand_as(target_box).float()
            valid = valid * (~torch.isnan(target_box)).float()
            code_weights = self.train_cfg.get('code_weights', None)
            loss_dict[f'task{task_id}.loss_bbox'] = self.loss_bbox(
                pred, target_box, valid * valid.new_tensor(code_weights),
                avg_factor=mask.float().sum() + 1e-4)

            if self.loss_iou is not None:
                loss_dict[f'task{task_id}.loss_iou'] = self._loss_iou_single(
                    pred, target_box, ind, mask)
        return loss_dict

    def _loss_iou_single(self, pred: Tensor, target_box: Tensor, ind: Tensor,
                         mask: Tensor) -> Tensor:
        """IoU loss of one task at its positive cells.

        Args:
            pred: ``(B, max_objs, 10)`` predicted box codes gathered at ``ind``.
            target_box: ``(B, max_objs, 10)`` target codes from ``get_targets``.
            ind: ``(B, max_objs)`` flat cell index of each target.
            mask: ``(B, max_objs)`` 1 where the target exists.
        """
        # dense over the (B * max_objs) slots, the missing ones weighted 0: no boolean-mask
        # indexing and no host read (a GPU would synchronise on either)
        finite = ~torch.isnan(target_box[..., :8]).any(dim=-1)
        keep = (mask.bool() & finite).reshape(-1).to(pred.dtype)
        target_box = torch.where(torch.isnan(target_box), target_box.new_zeros(()), target_box)
        cfg = self.train_cfg
        feat_width = int(cfg['grid_size'][0]) // int(cfg['out_size_factor'])
        geometry = dict(feat_width=feat_width, out_size_factor=cfg['out_size_factor'],
                        voxel_size=cfg['voxel_size'], pc_range=cfg['point_cloud_range'],
                        norm_bbox=self.norm_bbox)
        flat_ind = ind.reshape(-1)
        pred_boxes = decode_center_boxes(pred.reshape(-1, pred.shape[-1]), flat_ind, **geometry)
        gt_boxes = decode_center_boxes(target_box.reshape(-1, target_box.shape[-1]), flat_ind,
                                       **geometry)
        if getattr(self.loss_iou, 'box_format', None) == 'bev':
            # (x, y, dx, dy, yaw) as slices (a column index list miscompiles, docs/loss_core.md)
            pred_boxes, gt_boxes = (torch.cat((b[:, 0:2], b[:, 3:5], b[:, 6:7]), 1)
                                    for b in (pred_boxes, gt_boxes))
        return self.loss_iou(pred_boxes, gt_boxes, keep, avg_factor=keep.sum())
