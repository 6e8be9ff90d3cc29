"""bev_losses in real mmdet3d / mmdet heads and detectors.

* mmdet3d's own CenterPoint (pillar) and PointPillars configs, built as shipped and as
  configs/ in this repo (the same configs with the head and loss types swapped to bev_losses),
  same seed, same real frame through mmdet3d's NuScenesDataset / KittiDataset and the configs'
  training pipelines: the loss dicts agree to 1e-5 relative, backward gives finite gradients.
* The traps of mmdet3d's Anchor3DHead (sampling / use_sigmoid from the config dict) and what
  bev_losses.Anchor3DHead does instead.
* bev_losses.CenterHead: identical to mmdet3d's without options, logits heatmap loss, loss_iou
  (decoding checked against the ground-truth boxes; the term decreases when trained).
* DETR-style heads of mmdet (DETRHead, DeformableDETRHead) reading ``loss_cls.use_sigmoid`` and
  computing their losses with bev_losses give mmdet's values.
"""
import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch

mmdet3d = pytest.importorskip('mmdet3d', reason='the OpenMMLab stack (make setup) is not installed')

from mmdet.models.losses import GaussianFocalLoss as MMDetGaussianFocalLoss  # noqa: E402
from mmdet3d.models.dense_heads import Anchor3DHead as MMDet3DAnchor3DHead  # noqa: E402
from mmdet3d.models.dense_heads import CenterHead as MMDet3DCenterHead  # noqa: E402
from mmdet3d.models.task_modules import PseudoSampler  # noqa: E402
from mmdet3d.registry import DATASETS  # noqa: E402
from mmdet3d.registry import MODELS as MMDET3D_MODELS  # noqa: E402
from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dataset import pseudo_collate  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

import bev_losses  # noqa: E402
from bev_losses.models import Anchor3DHead, CenterHead, decode_center_boxes  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / 'shared' / 'data' / 'real'
MIM_CONFIGS = Path(mmdet3d.__file__).resolve().parent / '.mim' / 'configs'

DETECTORS = {
    'pointpillars': dict(
        shipped='pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py',
        ours='pointpillars/pointpillars_kitti-3d-3class_bev-focal-smoothl1-ce.py',
        head='bbox_head',
        dataset=dict(type='KittiDataset', data_root='kitti', ann_file='000008.pkl',
                     data_prefix=dict(pts=''))),
    'centerpoint': dict(
        shipped='centerpoint/centerpoint_pillar02_second_secfpn_8xb4-cyclic-20e_nus-3d.py',
        ours='centerpoint/centerpoint_pillar02_nus_bev-gfocal-l1.py',
        head='pts_bbox_head',
        dataset=dict(type='NuScenesDataset', data_root='nuscenes',
                     ann_file='nuscenes_infos_demo.pkl',
                     data_prefix=dict(pts='', img='', sweeps=''), use_valid_flag=True)),
}
#: The only differences between mmdet3d's configs and ours: (path in the config, shipped, ours).
SWAPS = {
    'pointpillars': {
        ('model', 'bbox_head', 'type'): ('Anchor3DHead', 'bev_losses.Anchor3DHead'),
        ('model', 'bbox_head', 'loss_cls', 'type'): ('mmdet.FocalLoss', 'bev_losses.FocalLoss'),
        ('model', 'bbox_head', 'loss_bbox', 'type'):
            ('mmdet.SmoothL1Loss', 'bev_losses.SmoothL1Loss'),
        ('model', 'bbox_head', 'loss_dir', 'type'):
            ('mmdet.CrossEntropyLoss', 'bev_losses.CrossEntropyLoss'),
        ('custom_imports',): (None, {'imports': ['bev_losses'], 'allow_failed_imports': False}),
    },
    'centerpoint': {
        ('model', 'pts_bbox_head', 'type'): ('CenterHead', 'bev_losses.CenterHead'),
        ('model', 'pts_bbox_head', 'loss_cls', 'type'):
            ('mmdet.GaussianFocalLoss', 'bev_losses.GaussianFocalLoss'),
        ('model', 'pts_bbox_head', 'loss_bbox', 'type'): ('mmdet.L1Loss', 'bev_losses.L1Loss'),
        ('custom_imports',): (None, {'imports': ['bev_losses'], 'allow_failed_imports': False}),
    },
}
_MISSING = object()


def _config_diff(a, b, path=()):
    """``{path: (a_value, b_value)}`` for every leaf where two config trees differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = {}
        for key in set(a) | set(b):
            out.update(_config_diff(a.get(key, _MISSING), b.get(key, _MISSING), path + (key,)))
        return out
    if (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b)):
        out = {}
        for i, (x, y) in enumerate(zip(a, b)):
            out.update(_config_diff(x, y, path + (i,)))
        return out
    if a is _MISSING or b is _MISSING or a != b:
        return {path: (None if a is _MISSING else a, None if b is _MISSING else b)}
    return {}


@pytest.mark.parametrize('name', sorted(DETECTORS))
def test_configs_are_mmdet3d_configs_with_losses_swapped(name):
    spec = DETECTORS[name]
    shipped = Config.fromfile(MIM_CONFIGS / spec['shipped']).to_dict()
    ours = Config.fromfile(REPO / 'configs' / spec['ours']).to_dict()
    assert _config_diff(shipped, ours) == SWAPS[name]


def test_giou_config_adds_only_loss_iou():
    base = Config.fromfile(REPO / 'configs/centerpoint/centerpoint_pillar02_nus_bev-gfocal-l1.py')
    giou = Config.fromfile(REPO / 'configs/centerpoint/centerpoint_pillar02_nus_bev-giou.py')
    diff = _config_diff(base.to_dict(), giou.to_dict())
    assert list(diff) == [('model', 'pts_bbox_head', 'loss_iou')]
    assert diff[('model', 'pts_bbox_head', 'loss_iou')][1]['type'] == 'bev_losses.GIoULoss'
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        head = MMDET3D_MODELS.build(giou.model.pts_bbox_head)
    assert isinstance(head, CenterHead) and isinstance(head.loss_iou, bev_losses.GIoULoss)


# --------------------------------------------------------------------------------------------
# Real detectors, real frames: shipped vs swapped losses.


def _one_real_frame(cfg: Config, dataset: dict) -> dict:
    """The frame through the config's own training pipeline (minus ``ObjectSample``, which needs
    the database of the full data set), as a collated batch of one."""
    data_root = REAL / dataset['data_root']
    if not (data_root / dataset['ann_file']).exists():
        pytest.skip(f'real data not found at {data_root} (CI has ../shared/data/real beside '
                    'the repository)')
    pipeline = [t for t in cfg.train_pipeline if t['type'] != 'ObjectSample']
    ds = DATASETS.build(dict(dataset, data_root=str(data_root), pipeline=pipeline,
                             metainfo=dict(classes=cfg.class_names),
                             modality=dict(use_lidar=True, use_camera=False),
                             box_type_3d='LiDAR', test_mode=False))
    np.random.seed(0)
    torch.manual_seed(0)
    return pseudo_collate([ds[0]])


def _build_detector(cfg: Config):
    torch.manual_seed(0)
    model = MMDET3D_MODELS.build(cfg.model)
    model.init_weights()
    return model.train()


def _flat_losses(losses: dict) -> dict:
    flat = {}
    for key, value in losses.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for i, v in enumerate(values):
            flat[f'{key}[{i}]'] = v
    return flat


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(DETECTORS))
def test_real_detector_same_losses_with_bev_losses(name):
    spec = DETECTORS[name]
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        shipped_cfg = Config.fromfile(MIM_CONFIGS / spec['shipped'])
        ours_cfg = Config.fromfile(REPO / 'configs' / spec['ours'])
        batch = _one_real_frame(shipped_cfg, spec['dataset'])
        assert len(batch['data_samples'][0].gt_instances_3d) > 0
        shipped = _build_detector(shipped_cfg)
        ours = _build_detector(ours_cfg)

        head = getattr(ours, spec['head'])
        assert type(head).__module__.startswith('bev_losses.')
        assert all(type(m).__module__.startswith('bev_losses.losses')
                   for n, m in head.named_children() if n.startswith('loss_'))
        # Same seed, same architecture: the very same weights.
        ref_state, our_state = shipped.state_dict(), ours.state_dict()
        assert list(ref_state) == list(our_state)
        assert all(torch.equal(ref_state[k], our_state[k]) for k in ref_state)

        data = shipped.data_preprocessor(batch, training=True)
        with torch.no_grad():
            expected = _flat_losses(shipped(**copy.deepcopy(data), mode='loss'))
        actual = _flat_losses(ours(**copy.deepcopy(data), mode='loss'))

    assert list(actual) == list(expected)
    for key in expected:
        assert torch.isfinite(actual[key]), key
        torch.testing.assert_close(actual[key].detach(), expected[key], rtol=1e-5, atol=1e-7,
                                   msg=lambda m, k=key: f'{name} {k}: {m}')
    assert sum(v.item() for v in expected.values()) > 0

    sum(actual.values()).backward()
    grads = {n: p.grad for n, p in ours.named_parameters() if p.requires_grad}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert sum(float(g.abs().sum()) for n, g in grads.items() if n.startswith(spec['head'])) > 0
    if name == 'pointpillars':  # the focal loss trains on every anchor, as mmdet3d's
        assert head.sampling is False and isinstance(head.bbox_sampler, PseudoSampler)


# --------------------------------------------------------------------------------------------
# Anchor3DHead: the traps, and bev_losses.Anchor3DHead.


def _pointpillars_head_cfg(**loss_cls) -> Config:
    cfg = Config.fromfile(MIM_CONFIGS / DETECTORS['pointpillars']['shipped']).model.bbox_head
    cfg.update(in_channels=8, feat_channels=8,
               train_cfg=Config.fromfile(MIM_CONFIGS / DETECTORS['pointpillars']['shipped'])
               .model.train_cfg)
    if loss_cls:
        cfg.loss_cls = loss_cls
    return cfg


def _build(cfg, type_):
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        return MMDET3D_MODELS.build(dict(cfg, type=type_))


def _build_loss(cfg):
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        return MMDET3D_MODELS.build(cfg)


def test_mmdet3d_anchor_head_samples_unless_type_is_literally_mmdet_focal():
    cfg = _pointpillars_head_cfg(type='bev_losses.FocalLoss', use_sigmoid=True, gamma=2.0,
                                 alpha=0.25, loss_weight=1.0)
    # The trap: mmdet3d's head compares the type *string* and wants a sampler PointPillars lacks.
    with pytest.raises(AttributeError, match='sampler'):
        _build(cfg, 'Anchor3DHead')
    # Ours decides from the built loss.
    head = _build(cfg, 'bev_losses.Anchor3DHead')
    assert isinstance(head, Anchor3DHead) and isinstance(head, MMDet3DAnchor3DHead)
    assert head.sampling is False and isinstance(head.bbox_sampler, PseudoSampler)
    ref = _build(_pointpillars_head_cfg(), 'Anchor3DHead')  # the shipped mmdet.FocalLoss
    assert (head.num_classes, head.use_sigmoid_cls, head.cls_out_channels) == \
        (ref.num_classes, ref.use_sigmoid_cls, ref.cls_out_channels) == (3, True, 6 * 3)


def test_anchor_head_reads_use_sigmoid_from_the_built_loss():
    # bev_losses.FocalLoss defaults to use_sigmoid=True; the config does not spell it.
    cfg = _pointpillars_head_cfg(type='bev_losses.FocalLoss')
    head = _build(cfg, 'bev_losses.Anchor3DHead')
    assert head.use_sigmoid_cls is True and head.num_classes == 3
    assert head.conv_cls.out_channels == head.num_anchors * 3
    # mmdet3d's head (given a sampler so that it builds) reads the dict: softmax-sized output.
    cfg.train_cfg.sampler = dict(type='PseudoSampler')
    ref = _build(cfg, 'Anchor3DHead')
    assert ref.use_sigmoid_cls is False and ref.num_classes == 4


def test_anchor_head_softmax_cross_entropy_keeps_sampling_and_background_class():
    cfg = _pointpillars_head_cfg(type='bev_losses.CrossEntropyLoss', use_sigmoid=False)
    cfg.train_cfg.sampler = dict(type='PseudoSampler')
    head = _build(cfg, 'bev_losses.Anchor3DHead')
    ref = _build(dict(cfg, loss_cls=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False)),
                 'Anchor3DHead')
    assert head.sampling is ref.sampling is True
    assert (head.num_classes, head.cls_out_channels) == (ref.num_classes, ref.cls_out_channels)
    assert head.num_classes == 4
    forced = _build(dict(cfg, sampling=False), 'bev_losses.Anchor3DHead')
    assert forced.sampling is False
    with pytest.raises(TypeError, match='sampling'):
        _build(dict(cfg, sampling='no'), 'bev_losses.Anchor3DHead')


# --------------------------------------------------------------------------------------------
# CenterHead.

PC_RANGE = [-12.8, -12.8, -3.0, 12.8, 12.8, 1.0]
VOXEL = [0.4, 0.4, 4.0]
OSF = 4
FEAT = 16  # 64 voxels / 4


def _small_center_head_cfg(**overrides) -> dict:
    cfg = dict(
        type='CenterHead', in_channels=8,
        tasks=[dict(num_class=1, class_names=['car']),
               dict(num_class=2, class_names=['pedestrian', 'cyclist'])],
        common_heads=dict(reg=(2, 2), height=(1, 2), dim=(3, 2), rot=(2, 2), vel=(2, 2)),
        share_conv_channel=8,
        bbox_coder=dict(type='CenterPointBBoxCoder', pc_range=PC_RANGE[:2],
                        post_center_range=[-20, -20, -10, 20, 20, 10], max_num=50,
                        score_threshold=0.0, out_size_factor=OSF, voxel_size=VOXEL[:2],
                        code_size=9),
        separate_head=dict(type='SeparateHead', init_bias=-2.19, final_kernel=3),
        loss_cls=dict(type='mmdet.GaussianFocalLoss', reduction='mean'),
        loss_bbox=dict(type='mmdet.L1Loss', reduction='mean', loss_weight=0.25),
        norm_bbox=True,
        train_cfg=dict(grid_size=[64, 64, 1], voxel_size=VOXEL, out_size_factor=OSF,
                       dense_reg=1, gaussian_overlap=0.1, max_objs=20, min_radius=2,
                       point_cloud_range=PC_RANGE, code_weights=[1.0] * 8 + [0.2, 0.2]),
        test_cfg=dict(post_center_limit_range=[-20, -20, -10, 20, 20, 10], max_per_img=50,
                      max_pool_nms=False, min_radius=[4, 0.85], score_threshold=0.0,
                      pc_range=PC_RANGE[:2], out_size_factor=OSF, voxel_size=VOXEL[:2],
                      nms_type='circle', pre_max_size=100, post_max_size=20, nms_thr=0.2))
    cfg.update(overrides)
    return cfg


#: (x, y, z_bottom, dx, dy, dz, yaw, vx, vy), labels 0 car, 1 pedestrian, 2 cyclist.
GT_BOXES = torch.tensor([[3.3, -4.1, -1.6, 4.2, 1.8, 1.5, 0.4, 1.0, 0.0],
                         [-6.0, 5.5, -1.5, 0.7, 0.6, 1.7, -1.2, 0.0, 0.5],
                         [8.0, 7.0, -1.4, 1.8, 0.6, 1.6, 2.9, 0.3, 0.3],
                         [-2.0, -9.0, -1.7, 3.9, 1.7, 1.4, -2.5, 0.0, 0.0]])
GT_LABELS = torch.tensor([0, 1, 2, 0])


def _center_inputs():
    gt = InstanceData(bboxes_3d=LiDARInstance3DBoxes(GT_BOXES, box_dim=9), labels_3d=GT_LABELS)
    sample = Det3DDataSample(metainfo=dict(box_type_3d=LiDARInstance3DBoxes))
    sample.gt_instances_3d = gt
    gen = torch.Generator().manual_seed(3)
    return [torch.randn(1, 8, FEAT, FEAT, generator=gen)], [sample]


def _center_head(**overrides):
    cfg = _small_center_head_cfg(**overrides)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        head = MMDET3D_MODELS.build(cfg)
    head.init_weights()
    return head.train()


def _losses(head, feats, samples):
    return head.loss(feats, samples)


def test_center_head_without_options_is_mmdet3d_center_head():
    feats, samples = _center_inputs()
    ref = _center_head()
    for losses in (dict(), dict(loss_cls=dict(type='bev_losses.GaussianFocalLoss'),
                                loss_bbox=dict(type='bev_losses.L1Loss', loss_weight=0.25))):
        ours = _center_head(type='bev_losses.CenterHead', **losses)
        assert isinstance(ours, MMDet3DCenterHead) and ours.loss_iou is None
        assert not ours.heatmap_from_logits
        expected, actual = ref.loss(feats, samples), ours.loss(feats, samples)
        assert list(actual) == list(expected)
        for key in expected:
            torch.testing.assert_close(actual[key], expected[key], rtol=1e-5, atol=1e-7)


def test_center_head_iou_decoding_recovers_ground_truth_boxes():
    head = _center_head(type='bev_losses.CenterHead')
    _, samples = _center_inputs()
    _, anno_boxes, inds, masks = head.get_targets([samples[0].gt_instances_3d])
    decoded = []
    for anno, ind, mask in zip(anno_boxes, inds, masks):
        keep = mask[0].bool()
        decoded.append(decode_center_boxes(anno[0][keep], ind[0][keep], FEAT, OSF, VOXEL,
                                           PC_RANGE, norm_bbox=True))
    # get_targets orders boxes by task: car (0, 3), then pedestrian (1), cyclist (2).
    expected = GT_BOXES[[0, 3, 1, 2], :7]
    torch.testing.assert_close(torch.cat(decoded), expected, rtol=0, atol=1e-5)


def test_center_head_logits_mode():
    feats, samples = _center_inputs()
    head = _center_head(type='bev_losses.CenterHead',
                        loss_cls=dict(type='bev_losses.GaussianFocalLoss', activated=False))
    assert head.heatmap_from_logits
    preds = head(feats)
    logits = [p[0]['heatmap'].detach().clone() for p in preds]
    losses = head.loss_by_feat(preds, [samples[0].gt_instances_3d])
    # The head's outputs are left alone (mmdet3d's sigmoid_ is in place).
    for p, raw in zip(preds, logits):
        assert torch.equal(p[0]['heatmap'], raw)
    # Independent reference: mmdet's loss on the sigmoid of the same logits.
    heatmaps, *_ = head.get_targets([samples[0].gt_instances_3d])
    for task, (raw, target) in enumerate(zip(logits, heatmaps)):
        num_pos = max(target.eq(1).float().sum().item(), 1)
        expected = MMDetGaussianFocalLoss()(raw.sigmoid(), target, avg_factor=num_pos)
        torch.testing.assert_close(losses[f'task{task}.loss_heatmap'].detach(), expected,
                                   rtol=1e-5, atol=1e-7)
    # Saturated logits: the loss stays finite, where clip_sigmoid would cut the gradient.
    for p in preds:
        p[0]['heatmap'] = p[0]['heatmap'] * 0 + 60.0
    extreme = head.loss_by_feat(preds, [samples[0].gt_instances_3d])
    assert all(torch.isfinite(v) for v in extreme.values())
    sum(extreme.values()).backward()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)

    # Prediction still decodes with the sigmoid (scores are probabilities).
    head.eval()
    with torch.no_grad():
        results = head.predict(feats, samples)
    assert len(results) == 1 and len(results[0].scores_3d) > 0
    assert results[0].scores_3d.min() >= 0 and results[0].scores_3d.max() <= 1


@pytest.mark.parametrize('box_format', ['bev', '3d'])
def test_center_head_loss_iou_finite_and_other_terms_unchanged(box_format):
    feats, samples = _center_inputs()
    ref = _center_head()
    head = _center_head(type='bev_losses.CenterHead',
                        loss_iou=dict(type='bev_losses.GIoULoss', box_format=box_format))
    expected = ref.loss(feats, samples)
    losses = head.loss(feats, samples)
    assert set(losses) == set(expected) | {'task0.loss_iou', 'task1.loss_iou'}
    for key in expected:  # heatmap and bbox terms: mmdet3d's values
        torch.testing.assert_close(losses[key], expected[key], rtol=1e-5, atol=1e-7)
    for task in (0, 1):
        value = losses[f'task{task}.loss_iou']
        assert torch.isfinite(value) and 0 < value.item() <= 2
    sum(losses.values()).backward()
    reg_grad = head.task_heads[0].reg[-1].weight.grad
    assert reg_grad is not None and torch.isfinite(reg_grad).all() and reg_grad.abs().sum() > 0


def test_center_head_iou_term_decreases_when_regression_trains():
    feats, samples = _center_inputs()
    gts = [samples[0].gt_instances_3d]
    head = _center_head(type='bev_losses.CenterHead',
                        loss_iou=dict(type='bev_losses.GIoULoss', box_format='bev'))
    trained = ('reg', 'height', 'dim', 'rot')
    with torch.no_grad():  # fixed: the input of the task heads and their other outputs
        shared = head.shared_conv(feats[0])
        fixed = [task(shared) for task in head.task_heads]
    params = [p for task in head.task_heads for name in trained
              for p in getattr(task, name).parameters()]
    optimizer = torch.optim.Adam(params, lr=2e-3)
    history = []
    for _ in range(20):
        preds = tuple([dict(out, **{name: getattr(task, name)(shared) for name in trained})]
                      for task, out in zip(head.task_heads, fixed))
        losses = head.loss_by_feat(preds, gts)
        iou = losses['task0.loss_iou'] + losses['task1.loss_iou']
        history.append(iou.item())
        optimizer.zero_grad()
        iou.backward()
        optimizer.step()
    assert all(math.isfinite(v) for v in history)
    assert history[-1] < 0.8 * history[0], history


def test_center_head_loss_iou_without_positives_is_zero_with_graph():
    feats, samples = _center_inputs()
    head = _center_head(type='bev_losses.CenterHead',
                        loss_iou=dict(type='bev_losses.GIoULoss', box_format='bev'))
    far = InstanceData(  # outside the grid: no target cell
        bboxes_3d=LiDARInstance3DBoxes(torch.tensor([[50., 50., -1.6, 4., 2., 1.5, 0., 0., 0.]]),
                                       box_dim=9), labels_3d=torch.tensor([0]))
    losses = head.loss_by_feat(head(feats), [far])
    for task in (0, 1):
        assert losses[f'task{task}.loss_iou'].item() == 0
        assert losses[f'task{task}.loss_iou'].requires_grad


# --------------------------------------------------------------------------------------------
# DETR-style heads read attributes of the built loss (use_sigmoid, loss_weight).


@pytest.mark.parametrize('head_type,loss_cls', [
    ('DETRHead', dict(type='CrossEntropyLoss', bg_cls_weight=0.1, use_sigmoid=False,
                      loss_weight=1.0, class_weight=1.0)),
    ('DeformableDETRHead', dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                                loss_weight=2.0)),
])
def test_detr_style_heads_read_loss_attributes(head_type, loss_cls):
    from mmdet.registry import MODELS as MMDET_MODELS
    gt = [InstanceData(bboxes=torch.tensor([[10., 20., 50., 60.], [30., 5., 90., 40.]]),
                       labels=torch.tensor([0, 2]))]
    metas = [dict(img_shape=(100, 120))]
    results = {}
    for scope in ('mmdet', 'bev_losses'):
        cfg = dict(type=head_type, num_classes=3, embed_dims=16,
                   loss_cls=dict(loss_cls, type=f'{scope}.{loss_cls["type"]}'),
                   loss_bbox=dict(type=f'{scope}.L1Loss', loss_weight=5.0),
                   loss_iou=dict(type=f'{scope}.GIoULoss', loss_weight=2.0))
        with DefaultScope.overwrite_default_scope('mmdet'):
            head = MMDET_MODELS.build(cfg)
        assert type(head.loss_cls).__module__.startswith(scope)
        assert head.loss_cls.use_sigmoid is loss_cls['use_sigmoid']
        assert head.loss_cls.loss_weight == loss_cls['loss_weight']
        gen = torch.Generator().manual_seed(1)
        scores = torch.randn(1, 10, head.cls_out_channels, generator=gen)
        boxes = torch.rand(1, 10, 4, generator=gen)
        results[scope] = (head.cls_out_channels,
                          torch.stack(head.loss_by_feat_single(scores, boxes, gt, metas)))
    assert results['bev_losses'][0] == results['mmdet'][0]
    torch.testing.assert_close(results['bev_losses'][1], results['mmdet'][1], rtol=1e-5,
                               atol=1e-7)


def _anchor_level_inputs(head, seed=0):
    """Random inputs of ``_loss_by_feat_single`` for one level: B=1, H=W=4."""
    g = torch.Generator().manual_seed(seed)
    a, k, h, w = head.num_anchors, head.num_classes, 4, 4
    n = h * w * a
    real = 3  # PointPillars' classes; mmdet3d's background label is ``head.num_classes``
    labels = torch.full((1, n), head.num_classes, dtype=torch.long)
    pos = torch.randperm(n, generator=g)[:7]
    labels[0, pos] = torch.randint(0, real, (7,), generator=g)
    bbox_weights = torch.zeros(1, n, 7)
    bbox_weights[0, pos] = 1.0
    dir_weights = torch.zeros(1, n)
    dir_weights[0, pos] = 1.0
    return dict(
        cls_score=torch.randn(1, a * k, h, w, generator=g, requires_grad=True),
        bbox_pred=torch.randn(1, a * 7, h, w, generator=g, requires_grad=True),
        dir_cls_pred=torch.randn(1, a * 2, h, w, generator=g, requires_grad=True),
        labels=labels, label_weights=torch.ones(1, n),
        bbox_targets=torch.randn(1, n, 7, generator=g), bbox_weights=bbox_weights,
        dir_targets=torch.randint(0, 2, (1, n), generator=g), dir_weights=dir_weights,
        num_total_samples=7), pos


@pytest.mark.parametrize('loss_cls', [
    dict(type='bev_losses.FocalLoss', use_sigmoid=False, gamma=2.0, alpha=0.25),
    dict(type='bev_losses.CrossEntropyLoss', use_sigmoid=False)])
def test_anchor_head_softmax_loss_gets_the_background_column(loss_cls):
    cfg = _pointpillars_head_cfg(**loss_cls)
    cfg.train_cfg.sampler = dict(type='PseudoSampler')
    head = _build(cfg, 'bev_losses.Anchor3DHead')
    assert head.use_sigmoid_cls is False and head.num_classes == 4  # 3 classes + background
    inputs, pos = _anchor_level_inputs(head)
    # mmdet3d's head: background anchors are labelled 4, one past the 4 softmax columns.
    ref_head = _build(cfg, 'Anchor3DHead')
    ref_head.loss_cls = head.loss_cls
    with pytest.raises((ValueError, IndexError, RuntimeError)):
        ref_head._loss_by_feat_single(**inputs)
    loss_cls_val, loss_bbox, loss_dir = head._loss_by_feat_single(**inputs)
    # Independent: the softmax loss on (N, 4) scores with background = column 3, and the box /
    # direction terms on the true positives only.
    scores = inputs['cls_score'].permute(0, 2, 3, 1).reshape(-1, 4)
    labels = inputs['labels'].reshape(-1).clone()
    labels[labels == 4] = 3
    expected_cls = _build_loss(loss_cls)(scores, labels, torch.ones(labels.shape), avg_factor=7)
    torch.testing.assert_close(loss_cls_val, expected_cls)
    box = inputs['bbox_pred'].permute(0, 2, 3, 1).reshape(-1, 7)[pos]
    tgt = inputs['bbox_targets'].reshape(-1, 7)[pos]
    box, tgt = head.add_sin_difference(box, tgt)
    expected_bbox = head.loss_bbox(box, tgt, torch.ones_like(box), avg_factor=7)
    torch.testing.assert_close(loss_bbox, expected_bbox)
    dirs = inputs['dir_cls_pred'].permute(0, 2, 3, 1).reshape(-1, 2)[pos]
    expected_dir = head.loss_dir(dirs, inputs['dir_targets'].reshape(-1)[pos],
                                 torch.ones(len(pos)), avg_factor=7)
    torch.testing.assert_close(loss_dir, expected_dir)
    (loss_cls_val + loss_bbox + loss_dir).backward()
    assert torch.isfinite(inputs['cls_score'].grad).all()


def test_anchor_head_sigmoid_labels_unchanged():
    head = _build(_pointpillars_head_cfg(type='bev_losses.FocalLoss'), 'bev_losses.Anchor3DHead')
    ref = _build(_pointpillars_head_cfg(), 'Anchor3DHead')
    inputs, _ = _anchor_level_inputs(head)
    ref.load_state_dict(head.state_dict())
    ours, theirs = head._loss_by_feat_single(**inputs), ref._loss_by_feat_single(**inputs)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b)
