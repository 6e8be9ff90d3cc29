"""bev_losses.CenterHead's target assignment equals mmdet3d's, box for box, without host reads.

The reference is mmdet3d 1.4's own ``CenterHead.get_targets_single`` (the per-box loop), called
on the same head and the same ground truth.
"""
import pytest
import torch

pytest.importorskip('mmdet3d')

from mmdet3d.models.dense_heads import CenterHead as MMDet3DCenterHead  # noqa: E402
from mmdet3d.registry import MODELS as MMDET3D_MODELS  # noqa: E402
from mmdet3d.structures import LiDARInstance3DBoxes  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

import bev_losses  # noqa: E402,F401
from bev_losses.models.center_targets import (center_point_targets,  # noqa: E402
                                              gaussian_radius_cells)
from mmdet3d.models.utils import gaussian_radius  # noqa: E402

PC_RANGE = [-12.8, -12.8, -3.0, 12.8, 12.8, 1.0]
VOXEL = [0.4, 0.4, 4.0]


def _head(tasks, out_size_factor=2, max_objs=20, min_radius=2, overlap=0.1, norm_bbox=True):
    grid = [64, 64, 1]
    cfg = dict(
        type='bev_losses.CenterHead', in_channels=8, tasks=tasks,
        common_heads=dict(reg=(2, 2), height=(1, 2), dim=(3, 2), rot=(2, 2), vel=(2, 2)),
        share_conv_channel=8,
        bbox_coder=dict(type='CenterPointBBoxCoder', pc_range=PC_RANGE[:2],
                        post_center_range=[-20, -20, -10, 20, 20, 10], max_num=50,
                        score_threshold=0.0, out_size_factor=out_size_factor,
                        voxel_size=VOXEL[:2], code_size=9),
        separate_head=dict(type='SeparateHead', init_bias=-2.19, final_kernel=3),
        norm_bbox=norm_bbox,
        train_cfg=dict(grid_size=grid, voxel_size=VOXEL, out_size_factor=out_size_factor,
                       dense_reg=1, gaussian_overlap=overlap, max_objs=max_objs,
                       min_radius=min_radius, point_cloud_range=PC_RANGE,
                       code_weights=[1.0] * 10))
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        return MMDET3D_MODELS.build(cfg)


TASKS_1 = [dict(num_class=3, class_names=['car', 'pedestrian', 'cyclist'])]
TASKS_2 = [dict(num_class=1, class_names=['car']),
           dict(num_class=2, class_names=['pedestrian', 'cyclist'])]


def _ground_truth(seed, n, dtype=torch.float32, num_labels=3):
    """Boxes over (and past) the range, sizes from tiny to large, labels also outside tasks."""
    g = torch.Generator().manual_seed(seed)
    xy = (torch.rand(n, 2, generator=g, dtype=torch.float64) - 0.5) * 30  # some out of range
    dims = torch.tensor([4.5, 1.85, 1.6], dtype=torch.float64) * (
        0.02 + 1.5 * torch.rand(n, 3, generator=g, dtype=torch.float64))
    z = torch.full((n, 1), -1.8, dtype=torch.float64)
    yaw = (torch.rand(n, 1, generator=g, dtype=torch.float64) - 0.5) * 7
    vel = torch.randn(n, 2, generator=g, dtype=torch.float64) * 4
    boxes = torch.cat([xy, z, dims, yaw, vel], 1).to(dtype)
    if n >= 4:
        boxes[1, :2] = boxes[0, :2] + 0.05  # two boxes in one cell: overlapping Gaussians
        boxes[2, :2] = torch.tensor([-12.85, -12.9])  # centre at cell -0.03: truncates to 0
        boxes[3, 3] = 0.0  # no length: not drawn
    labels = torch.randint(-1, num_labels + 1, (n,), generator=g)
    return InstanceData(bboxes_3d=LiDARInstance3DBoxes(boxes, box_dim=9), labels_3d=labels)


def _assert_same_targets(head, gt):
    expected = MMDet3DCenterHead.get_targets_single(head, gt)
    actual = head.get_targets_single(gt)
    for name, exp_list, act_list in zip(('heatmap', 'anno_box', 'ind', 'mask'), expected, actual):
        assert len(act_list) == len(exp_list)
        for exp, act in zip(exp_list, act_list):
            assert act.dtype == exp.dtype and act.shape == exp.shape, name
            if name == 'anno_box':  # log / sin / cos: one unit in the last place at most
                torch.testing.assert_close(act, exp, rtol=2 * torch.finfo(exp.dtype).eps,
                                           atol=0, msg=name)
            else:
                assert torch.equal(act, exp), name


@pytest.mark.parametrize('tasks', [TASKS_1, TASKS_2], ids=['one_task', 'two_tasks'])
@pytest.mark.parametrize('n', [0, 1, 4, 17, 60])
def test_targets_equal_mmdet3d(tasks, n):
    head = _head(tasks)
    for seed in range(6):
        _assert_same_targets(head, _ground_truth(seed, n))


@pytest.mark.parametrize('kwargs', [dict(out_size_factor=4), dict(min_radius=0),
                                    dict(overlap=0.5), dict(norm_bbox=False),
                                    dict(max_objs=5)],
                         ids=['stride4', 'min_radius0', 'overlap0.5', 'no_norm_bbox',
                              'max_objs_cap'])
def test_targets_equal_mmdet3d_other_settings(kwargs):
    head = _head(TASKS_2, **kwargs)
    for seed in range(6):
        _assert_same_targets(head, _ground_truth(100 + seed, 30))


def test_targets_equal_mmdet3d_float64_boxes():
    head = _head(TASKS_1)
    for seed in range(4):
        _assert_same_targets(head, _ground_truth(200 + seed, 25, dtype=torch.float64))


def test_heatmap_peaks_and_gaussian_values():
    """Closed form: one box at a cell centre, its Gaussian exp(-d^2 / (2 s^2)), s = (2r+1)/6."""
    head = _head(TASKS_1, min_radius=3)
    boxes = torch.tensor([[0.2, 0.2, -1.8, 0.3, 0.3, 1.7, 0.0, 0.0, 0.0]])  # tiny: radius 3
    gt = InstanceData(bboxes_3d=LiDARInstance3DBoxes(boxes, box_dim=9),
                      labels_3d=torch.tensor([1]))
    heatmaps, _, inds, masks = head.get_targets_single(gt)
    hm = heatmaps[0]
    # (0.2 + 12.8) / 0.4 / 2 = 16.25: cell (16, 16)
    assert hm[1, 16, 16] == 1.0 and hm[0].abs().sum() == 0 and hm[2].abs().sum() == 0
    sigma = 7 / 6
    for dy, dx in [(0, 1), (2, 1), (3, 3)]:
        expected = torch.exp(torch.tensor(-(dx * dx + dy * dy) / (2 * sigma * sigma),
                                          dtype=torch.float64)).float()
        assert hm[1, 16 + dy, 16 + dx] == expected
    assert hm[1, 16 + 4, 16] == 0 and hm[1, 16, 16 - 4] == 0  # outside the radius
    assert inds[0][0] == 16 * 32 + 16 and masks[0][0] == 1 and masks[0][1:].sum() == 0


def test_gaussian_radius_equals_mmdet3d():
    g = torch.Generator().manual_seed(0)
    h = torch.rand(200, generator=g) * 20
    w = torch.rand(200, generator=g) * 20
    for overlap in (0.1, 0.5, 0.7):
        ours = gaussian_radius_cells(h, w, overlap)
        for k in range(200):
            assert ours[k] == gaussian_radius((h[k], w[k]), min_overlap=overlap)


def test_no_host_reads_on_meta_tensors():
    """Every shape is known without reading the data: the function runs on ``meta`` tensors."""
    boxes = torch.empty(40, 9, device='meta')
    labels = torch.empty(40, dtype=torch.int64, device='meta')
    out = center_point_targets(
        boxes, labels, 0, 3, feature_map_size=[32, 24], voxel_size=torch.tensor(VOXEL),
        pc_range=torch.tensor(PC_RANGE), out_size_factor=2, gaussian_overlap=0.1,
        min_radius=2, max_objs=30)
    heatmap, anno_box, ind, mask = out
    assert heatmap.shape == (3, 24, 32) and anno_box.shape == (30, 10)
    assert ind.shape == (30,) and ind.dtype == torch.int64 and mask.dtype == torch.uint8
    assert all(t.device.type == 'meta' for t in out)


def test_bad_input_names_the_shapes():
    kw = dict(feature_map_size=[32, 32], voxel_size=torch.tensor(VOXEL),
              pc_range=torch.tensor(PC_RANGE), out_size_factor=2, gaussian_overlap=0.1,
              min_radius=2, max_objs=30)
    with pytest.raises(ValueError, match=r'boxes must be \(N, 9\).*\(5, 7\)'):
        center_point_targets(torch.zeros(5, 7), torch.zeros(5, dtype=torch.long), 0, 3, **kw)
    with pytest.raises(ValueError, match=r'labels must be \(5,\).*\(4,\)'):
        center_point_targets(torch.zeros(5, 9), torch.zeros(4, dtype=torch.long), 0, 3, **kw)
