"""CenterPoint training targets for one sample, computed for all boxes at once.

mmdet3d 1.4's ``CenterHead.get_targets_single`` assigns targets box by box in Python: per box
about thirty small tensor operations, a NumPy Gaussian kernel and several host reads
(``torch.where`` on the labels, ``if width > 0``, ``int(radius)``, the range test). On a CPU that
is a large share of a small detector's iteration (docs/main_job.md); on a GPU every one of those
reads waits for the device. :func:`center_point_targets` computes the same four targets with a
fixed number of tensor operations, no host read of device data and no Python loop over boxes:

- boxes are grouped by the task's classes in class order, keeping their order within a class
  (a stable sort of the class rank), and the first ``max_objs`` of them take the slots
  ``0 .. max_objs - 1``, as mmdet3d's ``for k in range(num_objs)`` does;
- a box is drawn only where its size in cells is positive and its integer centre (truncated
  toward zero, as ``Tensor.to(torch.int32)``) lies on the feature map, as mmdet3d skips it;
- the Gaussian of radius ``r = max(min_radius, int(gaussian_radius))`` is evaluated in float64 at
  the integer cell offsets ``dx, dy`` with ``|dx|, |dy| <= r`` as ``exp(-(dx^2 + dy^2) / (2 s^2))``,
  ``s = (2r + 1) / 6``, values below float64's epsilon set to zero, then rounded to the heatmap's
  dtype: the operations of mmdet3d's ``gaussian_2d`` in the same order, so the values are its
  values; the heatmap of a class is the maximum over its boxes and zero;
- box codes are ``(offset_x, offset_y, z, dims or log dims, sin yaw, cos yaw, vx, vy)``.

Tested equal to mmdet3d's ``get_targets_single`` (tests/test_center_targets.py): heatmap, indices
and mask bit for bit; the box codes to one unit in the last place (``log``, ``sin`` and ``cos`` on
a vector may take the SIMD path where mmdet3d's per-box call takes the scalar one).
"""
from typing import Sequence, Tuple

import torch
from torch import Tensor

__all__ = ['center_point_targets', 'gaussian_radius_cells']

#: Boxes whose Gaussians are evaluated on the whole feature map at once (bounds the memory of
#: one step to ``chunk x H x W`` float64 values: 8 MB for a 180 x 180 map).
_CHUNK = 32


def gaussian_radius_cells(height: Tensor, width: Tensor, min_overlap: float) -> Tensor:
    """CornerNet's Gaussian radius for boxes of ``height x width`` cells, elementwise.

    The smallest of the three radii at which a corner displaced by it still gives an IoU of at
    least ``min_overlap`` (both corners inside, both outside, one of each); the same arithmetic,
    in the same order and dtype, as mmdet3d's ``gaussian_radius`` applies to one box.

    Args:
        height: ``(N,)`` box extent along the map's rows, in cells.
        width: ``(N,)`` box extent along the map's columns, in cells.
        min_overlap: the IoU to keep.

    Returns:
        ``(N,)`` radius (real-valued; the caller truncates it), dtype of ``height``.
    """
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + torch.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + torch.sqrt(b2 ** 2 - 4 * 4 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + torch.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return torch.minimum(torch.minimum(r1, r2), r3)


def center_point_targets(boxes: Tensor, labels: Tensor, first_label: int, num_classes: int, *,
                         feature_map_size: Sequence[int], voxel_size: Tensor, pc_range: Tensor,
                         out_size_factor: int, gaussian_overlap: float, min_radius: int,
                         max_objs: int, norm_bbox: bool = True
                         ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Heatmap, box codes, cell indices and mask of one task of one sample.

    Args:
        boxes: ``(N, 9)`` ground-truth boxes ``(x, y, z, dx, dy, dz, yaw, vx, vy)`` with ``z``
            the gravity centre (``torch.cat((boxes.gravity_center, boxes.tensor[:, 3:]), 1)``).
        labels: ``(N,)`` integer class labels over all tasks.
        first_label: label of the task's first class (the task holds
            ``first_label .. first_label + num_classes - 1``).
        num_classes: classes of the task.
        feature_map_size: ``(W, H)`` of the heatmap (grid size // out_size_factor).
        voxel_size: ``(3,)`` metres per voxel, a CPU tensor (mmdet3d builds a float32 one).
        pc_range: ``(6,)`` point cloud range, a CPU tensor.
        out_size_factor: voxels per heatmap cell.
        gaussian_overlap: ``min_overlap`` of the Gaussian radius.
        min_radius: the smallest radius drawn, in cells.
        max_objs: box slots per task.
        norm_bbox: log-encode the box size.

    Returns:
        ``heatmap (num_classes, H, W)`` in the boxes' dtype, ``anno_box (max_objs, 10)`` float32,
        ``ind (max_objs,)`` int64 (``row * W + col``), ``mask (max_objs,)`` uint8.
    """
    if boxes.dim() != 2 or (boxes.shape[0] > 0 and boxes.shape[1] < 9):
        raise ValueError('boxes must be (N, 9): x, y, z, dx, dy, dz, yaw, vx, vy (CenterHead '
                         f'regresses velocity), got {tuple(boxes.shape)}')
    if labels.shape != boxes.shape[:1]:
        raise ValueError(f'labels must be ({boxes.shape[0]},) like boxes, got '
                         f'{tuple(labels.shape)}')
    width_cells, height_cells = int(feature_map_size[0]), int(feature_map_size[1])
    device = boxes.device
    heatmap = boxes.new_zeros((num_classes, height_cells, width_cells))
    anno_box = boxes.new_zeros((max_objs, 10), dtype=torch.float32)
    ind = labels.new_zeros((max_objs,), dtype=torch.int64)
    mask = boxes.new_zeros((max_objs,), dtype=torch.uint8)
    num = min(boxes.shape[0], max_objs)
    if num == 0:
        return heatmap, anno_box, ind, mask

    # The task's boxes in class order, stable within a class; the others sort last.
    rank = labels.to(torch.int64) - first_label
    in_task = (rank >= 0) & (rank < num_classes)
    rank = torch.where(in_task, rank, torch.full_like(rank, num_classes))
    order = torch.sort(rank, stable=True).indices[:num]
    box, cls = boxes[order], rank[order]
    slot_used = in_task[order]

    # voxel_size / pc_range stay where they are: their 0-dim elements act as scalars on any
    # device (no host-to-device copy, which would wait for the stream), as in mmdet3d
    length = box[:, 3] / voxel_size[0] / out_size_factor
    width = box[:, 4] / voxel_size[1] / out_size_factor
    radius = gaussian_radius_cells(width, length, gaussian_overlap)
    # int(radius) truncates; a box of no size is not drawn, whatever its radius
    sized = (width > 0) & (length > 0)
    radius = torch.where(sized, radius, radius.new_zeros(()))
    radius = radius.to(torch.int64).clamp(min=min_radius)
    coor_x = (box[:, 0] - pc_range[0]) / voxel_size[0] / out_size_factor
    coor_y = (box[:, 1] - pc_range[1]) / voxel_size[1] / out_size_factor
    center = torch.stack([coor_x, coor_y], dim=1).to(torch.float32)
    center_int = center.to(torch.int32)
    cx, cy = center_int[:, 0].to(torch.int64), center_int[:, 1].to(torch.int64)
    on_map = (cx >= 0) & (cx < width_cells) & (cy >= 0) & (cy < height_cells)
    keep = slot_used & sized & on_map

    # box codes, ind and mask of the first `num` slots (the rest stay zero, as in mmdet3d)
    dims = box[:, 3:6].log() if norm_bbox else box[:, 3:6]
    code = torch.cat([center - center_int.to(center.dtype), box[:, 2:3], dims,
                      torch.sin(box[:, 6:7]), torch.cos(box[:, 6:7]), box[:, 7:9]], dim=1)
    anno_box[:num] = torch.where(keep[:, None], code.to(torch.float32), anno_box.new_zeros(()))
    ind[:num] = torch.where(keep, cy * width_cells + cx, ind.new_zeros(()))
    mask[:num] = keep.to(torch.uint8)

    # heatmap: each box's Gaussian on the whole map (chunks of boxes), the maximum per class
    cols = torch.arange(width_cells, device=device, dtype=torch.float64)
    rows = torch.arange(height_cells, device=device, dtype=torch.float64)
    flat_heat = heatmap.view(-1)
    cells = height_cells * width_cells
    cell_index = torch.arange(cells, device=device)
    eps = torch.finfo(torch.float64).eps
    for start in range(0, num, _CHUNK):
        sl = slice(start, min(start + _CHUNK, num))
        r = radius[sl].to(torch.float64)[:, None, None]
        dx = cols[None, None, :] - cx[sl].to(torch.float64)[:, None, None]
        dy = rows[None, :, None] - cy[sl].to(torch.float64)[:, None, None]
        sigma = (2 * r + 1) / 6
        gauss = torch.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma))
        inside = (dx.abs() <= r) & (dy.abs() <= r) & (gauss >= eps) & keep[sl, None, None]
        gauss = torch.where(inside, gauss, gauss.new_zeros(())).to(heatmap.dtype)
        target = cls[sl].clamp(max=num_classes - 1)[:, None] * cells + cell_index[None, :]
        flat_heat.scatter_reduce_(0, target.reshape(-1), gauss.reshape(-1), reduce='amax')
    return heatmap, anno_box, ind, mask
