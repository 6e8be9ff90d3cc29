"""The OpenMMLab stack works: mmdet3d's real CenterHead builds, computes its loss and backprops.

A 16 x 16 BEV feature map, two ground-truth boxes (a car and a pedestrian), mmdet3d's own
losses. Checks the targets against the box positions computed here by hand, the loss values for
finiteness and sign, and every parameter gradient for finiteness.
"""
import math

import pytest
import torch

mmdet3d = pytest.importorskip('mmdet3d', reason='the OpenMMLab stack (make setup) is not installed')

from mmdet3d.registry import MODELS  # noqa: E402
from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

PC_RANGE = [-6.4, -6.4, -3.0, 6.4, 6.4, 1.0]
VOXEL = [0.2, 0.2, 4.0]
OSF = 4  # 64 voxels / 4 = 16 cells a side
FEAT = 16


def small_center_head_cfg() -> dict:
    return dict(
        type='CenterHead',
        in_channels=8,
        tasks=[dict(num_class=1, class_names=['car']),
               dict(num_class=1, class_names=['pedestrian'])],
        common_heads=dict(reg=(2, 2), height=(1, 2), dim=(3, 2), rot=(2, 2), vel=(2, 2)),
        share_conv_channel=8,
        bbox_coder=dict(type='CenterPointBBoxCoder', pc_range=PC_RANGE[:2],
                        post_center_range=[-10, -10, -10, 10, 10, 10], max_num=50,
                        score_threshold=0.1, out_size_factor=OSF, voxel_size=VOXEL[:2],
                        code_size=9),
        separate_head=dict(type='SeparateHead', init_bias=-2.19, final_kernel=3),
        loss_cls=dict(type='mmdet.GaussianFocalLoss', reduction='mean'),
        loss_bbox=dict(type='mmdet.L1Loss', reduction='mean', loss_weight=0.25),
        norm_bbox=True,
        train_cfg=dict(grid_size=[64, 64, 1], voxel_size=VOXEL, out_size_factor=OSF,
                       dense_reg=1, gaussian_overlap=0.1, max_objs=10, min_radius=2,
                       point_cloud_range=PC_RANGE,
                       code_weights=[1.0] * 8 + [0.2, 0.2]),
        test_cfg=dict(post_center_limit_range=[-10, -10, -10, 10, 10, 10], max_per_img=50,
                      max_pool_nms=False, min_radius=[4, 0.175], score_threshold=0.1,
                      pc_range=PC_RANGE[:2], out_size_factor=OSF, voxel_size=VOXEL[:2],
                      nms_type='circle', pre_max_size=100, post_max_size=20, nms_thr=0.2))


def two_box_sample() -> Det3DDataSample:
    # (x, y, z_bottom, dx, dy, dz, yaw, vx, vy)
    boxes = torch.tensor([[1.3, -2.1, -1.6, 4.0, 1.8, 1.5, 0.4, 1.0, 0.0],
                          [-3.0, 2.5, -1.5, 0.7, 0.6, 1.7, -1.2, 0.0, 0.5]])
    sample = Det3DDataSample()
    sample.gt_instances_3d = InstanceData(
        bboxes_3d=LiDARInstance3DBoxes(boxes, box_dim=9), labels_3d=torch.tensor([0, 1]))
    return sample, boxes


def test_mmdet3d_center_head_loss_backward():
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet3d'):  # as in an mmdet3d config
        head = MODELS.build(small_center_head_cfg())
    head.init_weights()
    head.train()
    assert type(head).__module__.startswith('mmdet3d.')
    sample, boxes = two_box_sample()
    feats = [torch.randn(1, 8, FEAT, FEAT)]

    # The targets put each box's peak (1.0) at the cell of its centre (computed by hand).
    heatmaps, anno_boxes, inds, masks = head.get_targets([sample.gt_instances_3d])
    for task, (x, y) in enumerate(boxes[:, :2].tolist()):
        col = int((x - PC_RANGE[0]) / VOXEL[0] / OSF)
        row = int((y - PC_RANGE[1]) / VOXEL[1] / OSF)
        assert heatmaps[task][0, 0, row, col].item() == 1.0
        assert heatmaps[task].eq(1).sum().item() == 1
        assert inds[task][0, 0].item() == row * FEAT + col
        assert masks[task][0].sum().item() == 1
        # log-size and sin/cos of the yaw are the encoding of the box
        expected = torch.cat([boxes[task, 3:6].log(),
                              torch.tensor([math.sin(boxes[task, 6]), math.cos(boxes[task, 6])])])
        torch.testing.assert_close(anno_boxes[task][0, 0, 3:8], expected)

    losses = head.loss(feats, [sample])
    assert set(losses) == {'task0.loss_heatmap', 'task0.loss_bbox',
                           'task1.loss_heatmap', 'task1.loss_bbox'}
    for name, value in losses.items():
        assert value.dim() == 0 and torch.isfinite(value), name
        assert value.item() > 0, name
    sum(losses.values()).backward()
    grads = [p.grad for p in head.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads)
    assert all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
