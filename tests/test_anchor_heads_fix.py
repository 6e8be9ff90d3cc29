"""One fix for every mmdet3d Anchor3DHead descendant (bev_losses.models.fix_anchor_head).

* Every ``Anchor3DHead`` descendant mmdet3d registers (``Anchor3DHead``, ``ShapeAwareHead``,
  ``FreeAnchor3DHead``, ``PartA2RPNHead``) exists as ``bev_losses.<Name>``: a subclass of the
  mmdet3d class with the mixin, mmdet3d's arguments plus ``sampling``, the same ``state_dict``
  keys (built from the shipped configs: the original's weights load strictly).
* A user's own subclass: by name (``type='bev_losses.MyHead'``, fixed on first use) or by
  ``fix_anchor_head``; the errors for a non-anchor class and a taken name.
* The SSN trap (on tensors): mmdet3d's ShapeAwareHead with ``bev_losses.FocalLoss`` needs a
  sampler, and with one its classification loss collapses; ``bev_losses.ShapeAwareHead`` gives
  the original head's loss dict. The softmax background column reaches ``loss_single`` too.
* PartA2 / PV-RCNN (sparse convolutions do not run on CPU): the converted RPN head, bbox heads
  and point-wise semantic heads give the original heads' losses on the same tensors.
"""
import inspect
import pickle
import uuid

import pytest
import torch

mmdet3d = pytest.importorskip('mmdet3d', reason='the OpenMMLab stack (make setup) is not installed')

from mmdet3d.models.dense_heads import Anchor3DHead as MMDet3DAnchor3DHead  # noqa: E402
from mmdet3d.models.dense_heads import ShapeAwareHead as MMDet3DShapeAwareHead  # noqa: E402
from mmdet3d.registry import MODELS as MMDET3D_MODELS  # noqa: E402
from mmdet3d.structures import LiDARInstance3DBoxes  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

import bev_losses.models as bev_models  # noqa: E402
from bev_losses.models import AnchorHeadFixMixin, fix_anchor_head  # noqa: E402
from bev_losses.registry import MODELS as BEV_MODELS  # noqa: E402

from _swap_helpers import assert_same_losses, build, conversion, head_pair  # noqa: E402

PP_KITTI = 'pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py'
SSN_NUS = 'ssn/ssn_hv_secfpn_sbn-all_16xb2-2x_nus-3d.py'
FREE_ANCHOR_NUS = 'free_anchor/pointpillars_hv_fpn_head-free-anchor_sbn-all_8xb4-2x_nus-3d.py'
PARTA2 = 'parta2/parta2_hv_secfpn_8xb2-cyclic-80e_kitti-3d-3class.py'
PV_RCNN = 'pv_rcnn/pv_rcnn_8xb2-80e_kitti-3d-3class.py'

#: (config, keys of the head in the model) for one shipped config of each descendant.
HEADS = {
    'Anchor3DHead': (PP_KITTI, ('bbox_head',)),
    'ShapeAwareHead': (SSN_NUS, ('pts_bbox_head',)),
    'FreeAnchor3DHead': (FREE_ANCHOR_NUS, ('pts_bbox_head',)),
    'PartA2RPNHead': (PARTA2, ('rpn_head',)),
}


def _mmdet3d_anchor_heads():
    return {name: cls for name, cls in MMDET3D_MODELS.module_dict.items()
            if isinstance(cls, type) and issubclass(cls, MMDet3DAnchor3DHead)}


def test_every_mmdet3d_anchor_head_descendant_exists_fixed():
    found = _mmdet3d_anchor_heads()
    assert set(HEADS) <= set(found)
    for name, cls in found.items():
        fixed = BEV_MODELS.get(name)
        assert fixed is not None, name
        assert issubclass(fixed, cls) and issubclass(fixed, AnchorHeadFixMixin)
        assert fixed.__mro__[1] is AnchorHeadFixMixin and fixed.__mro__[2] is cls
        assert fixed.bev_losses_fixes is cls
        assert fixed.__module__ == 'bev_losses.models.anchor3d_head'
        assert fix_anchor_head(cls) is fixed and fix_anchor_head(fixed) is fixed
        # mmdet3d's own arguments, plus sampling
        ours = inspect.signature(fixed).parameters
        theirs = inspect.signature(cls).parameters
        assert [p for p in ours if p != 'sampling'] == list(theirs)
        assert ours['sampling'].default is None
        assert pickle.loads(pickle.dumps(fixed)) is fixed
    assert bev_models.Anchor3DHead is BEV_MODELS.get('Anchor3DHead')
    assert bev_models.ShapeAwareHead is BEV_MODELS.get('ShapeAwareHead')
    assert bev_models.FreeAnchor3DHead is BEV_MODELS.get('FreeAnchor3DHead')
    assert bev_models.PartA2RPNHead is BEV_MODELS.get('PartA2RPNHead')


@pytest.mark.parametrize('name', sorted(HEADS))
def test_fixed_head_has_the_original_state_dict(name):
    rel, keys = HEADS[name]
    original, converted = head_pair(rel, *keys)   # load_state_dict(strict=True) inside
    assert type(original).__name__ == type(converted).__name__ == name
    assert type(converted).bev_losses_fixes is type(original)
    ref, ours = original.state_dict(), converted.state_dict()
    assert list(ref) == list(ours)
    assert all(ref[k].shape == ours[k].shape for k in ref)
    assert converted.num_classes == original.num_classes
    assert converted.use_sigmoid_cls is original.use_sigmoid_cls is True
    assert converted.sampling is original.sampling is False


# --------------------------------------------------------------------------------------------
# A user's own subclass.

def _pp_head_cfg(type_, **loss_cls):
    cfg = conversion(PP_KITTI).cfg.model.bbox_head.copy()
    cfg.update(type=type_, in_channels=8, feat_channels=8,
               train_cfg=conversion(PP_KITTI).cfg.model.train_cfg)
    if loss_cls:
        cfg['loss_cls'] = loss_cls
    return cfg


def test_user_subclass_is_fixed_by_name_on_first_use():
    name = f'UserAnchorHead{uuid.uuid4().hex[:8]}'

    class UserAnchorHead(MMDet3DAnchor3DHead):
        def user_method(self):
            return 42

    MMDET3D_MODELS.register_module(name=name, module=UserAnchorHead)
    assert name not in BEV_MODELS.module_dict
    head = build(_pp_head_cfg(f'bev_losses.{name}'))    # bev_losses.FocalLoss in the config
    fixed = type(head)
    assert isinstance(head, UserAnchorHead) and isinstance(head, AnchorHeadFixMixin)
    assert BEV_MODELS.module_dict[name] is fixed and fixed.bev_losses_fixes is UserAnchorHead
    assert head.user_method() == 42
    assert head.sampling is False and head.use_sigmoid_cls is True   # decided by the built loss
    assert fix_anchor_head(UserAnchorHead) is fixed
    # the unfixed class falls into the trap the fixed one avoids
    with pytest.raises(AttributeError, match='sampler'):
        build(_pp_head_cfg(name))


def test_fix_anchor_head_by_function_with_a_name_and_its_errors():
    class MyOwnHead(MMDet3DAnchor3DHead):
        pass

    name = f'MyOwnHead{uuid.uuid4().hex[:8]}'
    fixed = fix_anchor_head(MyOwnHead, name=name)
    assert BEV_MODELS.get(name) is fixed and fixed.bev_losses_fixes is MyOwnHead
    head = build(_pp_head_cfg(f'bev_losses.{name}'))
    assert type(head) is fixed and head.sampling is False
    with pytest.raises(TypeError, match='Anchor3DHead'):
        fix_anchor_head(torch.nn.Linear)

    class Other(MMDet3DAnchor3DHead):
        pass

    with pytest.raises(KeyError, match='already registered'):
        fix_anchor_head(Other, name='Anchor3DHead')
    assert BEV_MODELS.get('Anchor3DHead') is bev_models.Anchor3DHead


def test_unknown_bev_losses_name_is_still_a_clear_error():
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        with pytest.raises(KeyError, match='NoSuchHead'):
            MMDET3D_MODELS.build(dict(type='bev_losses.NoSuchHead'))
    linear = BEV_MODELS.get('Linear')
    assert linear is None or not issubclass(linear, AnchorHeadFixMixin)


# --------------------------------------------------------------------------------------------
# SSN (ShapeAwareHead) on tensors: the trap, and the fixed head.

def _random_boxes(n, classes, sizes, seed, xy_range=40.0, z=-1.7):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=g)
    size = torch.tensor(sizes, dtype=torch.float32)[labels]
    xy = (torch.rand(n, 2, generator=g) * 2 - 1) * xy_range
    yaw = torch.rand(n, 1, generator=g) * 3.14
    scale = 0.9 + 0.2 * torch.rand(n, 3, generator=g)
    boxes = torch.cat([xy, torch.full((n, 1), z), size * scale, yaw], dim=1)
    return boxes, labels


def _ssn_inputs(head, seed=0):
    """Random 384-channel features on a 50 x 50 grid and 12 boxes of SSN's ten classes."""
    sizes = head.prior_generator.sizes
    boxes, labels = _random_boxes(12, 10, sizes, seed)
    boxes = torch.cat([boxes, torch.zeros(12, 2)], 1)  # nuScenes: vx, vy
    gt = InstanceData(bboxes_3d=LiDARInstance3DBoxes(boxes, box_dim=9), labels_3d=labels)
    g = torch.Generator().manual_seed(seed + 1)
    feats = [torch.randn(1, 384, 50, 50, generator=g)]
    metas = [dict(box_type_3d=LiDARInstance3DBoxes)]
    return feats, [gt], metas


def _ssn_losses(head, feats, gts, metas):
    head.train()
    outs = head(feats)
    return head.loss_by_feat(*outs, gts, metas)


def test_ssn_fixed_head_gives_the_original_losses_and_the_trap_does_not():
    original, converted = head_pair(SSN_NUS, 'pts_bbox_head')
    assert isinstance(converted, MMDet3DShapeAwareHead)
    feats, gts, metas = _ssn_inputs(original)
    expected = _ssn_losses(original, feats, gts, metas)
    assert_same_losses(_ssn_losses(converted, feats, gts, metas), expected)
    assert float(expected['loss_cls'][0].detach()) > 0.1

    # mmdet3d's ShapeAwareHead with the converted losses: needs a sampler, and with one the
    # focal loss is divided by positives + negatives (the 2.075 -> 1.7e-5).
    trap_cfg = conversion(SSN_NUS).cfg.model.pts_bbox_head.copy()
    trap_cfg.update(type='ShapeAwareHead', train_cfg=conversion(SSN_NUS).cfg.model.train_cfg.pts,
                    test_cfg=conversion(SSN_NUS).cfg.model.test_cfg.pts)
    with pytest.raises(AttributeError, match='sampler'):
        build(trap_cfg)
    trap_cfg['train_cfg'] = dict(trap_cfg['train_cfg'], sampler=dict(type='PseudoSampler'))
    trap = build(trap_cfg, seed=1)
    trap.load_state_dict(original.state_dict())
    trapped = _ssn_losses(trap, feats, gts, metas)
    ratio = float(expected['loss_cls'][0].detach()) / float(trapped['loss_cls'][0].detach())
    assert ratio > 100, ratio


def test_ssn_softmax_loss_gets_the_background_column_in_loss_single():
    cfg = conversion(SSN_NUS).cfg.model.pts_bbox_head.copy()
    cfg.update(train_cfg=conversion(SSN_NUS).cfg.model.train_cfg.pts,
               test_cfg=conversion(SSN_NUS).cfg.model.test_cfg.pts)
    cfg['loss_cls'] = dict(type='bev_losses.CrossEntropyLoss', use_sigmoid=False)
    cfg['train_cfg'] = dict(cfg['train_cfg'], sampler=dict(type='PseudoSampler'))
    head = build(cfg)
    assert head.use_sigmoid_cls is False and head.num_classes == 11 and head.sampling is True
    seen = []
    loss_cls = head.loss_cls

    class Recording(torch.nn.Module):
        use_sigmoid = False

        def forward(self, pred, target, *args, **kwargs):
            seen.append((pred.shape[1], int(target.max()), int(target.min())))
            return loss_cls(pred, target, *args, **kwargs)

    head.loss_cls = Recording()
    feats, gts, metas = _ssn_inputs(head)
    losses = _ssn_losses(head, feats, gts, metas)
    assert torch.isfinite(losses['loss_cls'][0])
    # background anchors (label 11 from mmdet3d's targets) reach the loss as column 10
    assert seen and all(width == 11 and hi == 10 and lo >= 0 for width, hi, lo in seen)
    # mmdet3d's head, given the same softmax loss, feeds it labels one past its columns
    ref = build(dict(cfg, type='ShapeAwareHead'))
    ref.loss_cls = loss_cls
    with pytest.raises((ValueError, IndexError, RuntimeError)):
        _ssn_losses(ref, feats, gts, metas)


# --------------------------------------------------------------------------------------------
# PartA2 / PV-RCNN: heads' losses on tensors.

KITTI_SIZES = [[0.8, 0.6, 1.73], [1.76, 0.6, 1.73], [3.9, 1.6, 1.56]]


@pytest.mark.parametrize('rel', [PARTA2, PV_RCNN])
def test_parta2_rpn_head_losses_equal_on_tensors(rel):
    original, converted = head_pair(rel, 'rpn_head')
    assert type(converted).__name__ == 'PartA2RPNHead' and converted.sampling is False
    boxes, labels = _random_boxes(8, 3, KITTI_SIZES, seed=2, xy_range=30.0, z=-1.6)
    boxes[:, 0] = boxes[:, 0].abs() + 5.0            # in front of the car, as KITTI
    gts = [InstanceData(bboxes_3d=LiDARInstance3DBoxes(boxes), labels_3d=labels)]
    metas = [dict(box_type_3d=LiDARInstance3DBoxes)]
    feats = [torch.randn(1, 512, 50, 44, generator=torch.Generator().manual_seed(3))]
    losses = []
    for head in (original, converted):
        head.train()
        losses.append(head.loss_by_feat(*head(feats), gts, metas))
    assert_same_losses(losses[1], losses[0])
    assert list(losses[0]) == ['loss_rpn_cls', 'loss_rpn_bbox', 'loss_rpn_dir']
    assert float(losses[0]['loss_rpn_cls'][0]) > 0 and float(losses[0]['loss_rpn_bbox'][0]) > 0


def _roi_loss_inputs(n=64, n_pos=20, seed=4):
    g = torch.Generator().manual_seed(seed)
    boxes, _ = _random_boxes(n, 3, KITTI_SIZES, seed=seed + 1, xy_range=30.0)
    rois = torch.cat([torch.zeros(n, 1), boxes], 1)
    reg_mask = torch.zeros(n, dtype=torch.long)
    reg_mask[torch.randperm(n, generator=g)[:n_pos]] = 1
    pos = reg_mask > 0
    gt = boxes[pos] + 0.1 * torch.randn(n_pos, 7, generator=g)
    return dict(
        cls_score=torch.randn(n, 1, generator=g, requires_grad=True),
        bbox_pred=(0.1 * torch.randn(n, 7, generator=g)).requires_grad_(),
        rois=rois, labels=torch.rand(n, generator=g),        # IoU-based soft labels
        bbox_targets=0.1 * torch.randn(n_pos, 7, generator=g), pos_gt_bboxes=gt,
        reg_mask=reg_mask, label_weights=torch.full((n,), 1.0 / n),
        bbox_weights=torch.full((n,), 1.0 / n_pos))


@pytest.mark.parametrize('rel', [PARTA2, PV_RCNN])
def test_roi_bbox_head_losses_equal_on_tensors(rel):
    original, converted = head_pair(rel, 'roi_head', 'bbox_head')
    assert {type(original.loss_cls).__module__.split('.')[0],
            type(converted.loss_cls).__module__.split('.')[0]} == {'mmdet', 'bev_losses'}
    inputs = _roi_loss_inputs()
    expected = original.loss(**inputs)
    grads = torch.autograd.grad(sum(v.sum() for v in expected.values()),
                                [inputs['cls_score'], inputs['bbox_pred']])
    actual = converted.loss(**inputs)
    ours = torch.autograd.grad(sum(v.sum() for v in actual.values()),
                               [inputs['cls_score'], inputs['bbox_pred']])
    assert set(expected) == {'loss_cls', 'loss_bbox', 'loss_corner'}
    assert_same_losses(actual, expected)
    for a, b in zip(ours, grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_parta2_pointwise_semantic_head_losses_equal_on_tensors():
    original, converted = head_pair(PARTA2, 'roi_head', 'semantic_head')
    g = torch.Generator().manual_seed(5)
    n = 300
    results = dict(seg_preds=torch.randn(n, 1, generator=g),
                   part_preds=torch.randn(n, 3, generator=g))
    seg = torch.randint(0, 4, (n,), generator=g)          # 3 = background (num_classes)
    targets = dict(seg_targets=seg, part_targets=torch.rand(n, 3, generator=g))
    assert_same_losses(converted.loss(results, targets), original.loss(results, targets))


def test_pv_rcnn_foreground_segmentation_head_losses_equal_on_tensors():
    original, converted = head_pair(PV_RCNN, 'roi_head', 'semantic_head')
    g = torch.Generator().manual_seed(6)
    n = 300
    results = dict(seg_preds=torch.randn(n, 1, generator=g))
    targets = dict(seg_targets=torch.randint(0, 2, (n, 1), generator=g).float())
    assert converted.loss_seg.activated is True       # the config's probability mode
    assert_same_losses(converted.loss(results, targets), original.loss(results, targets))
