"""Warnings for the known silent head / loss traps (bev_losses.traps), at construction.

Each trap is shown to be real first (the value the head computes differs from the value it
should compute, computed independently), then: the warning fires once, at construction, for
mmdet3d's own head built from a config; it does not fire for bev-losses' fixed head, for the
safe setting, or for a loss built outside a head; find_traps finds the same on a built model.
"""
import warnings

import pytest
import torch

pytest.importorskip('mmdet3d', reason='the OpenMMLab stack (make setup) is not installed')

from mmdet.models.losses import GaussianFocalLoss as MMDetGaussianFocalLoss  # noqa: E402
from mmdet3d.registry import MODELS as MMDET3D_MODELS  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

import bev_losses  # noqa: E402
from bev_losses import traps  # noqa: E402
from bev_losses.traps import BEVLossesTrapWarning, find_traps  # noqa: E402

from test_heads_dropin import (_center_inputs, _pointpillars_head_cfg,  # noqa: E402
                               _small_center_head_cfg)


@pytest.fixture(autouse=True)
def fresh_once_registry():
    traps._WARNED.clear()
    yield
    traps._WARNED.clear()


def _build_recording(cfg):
    """Build ``cfg`` in mmdet3d's scope; return (module, [trap warnings])."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        with DefaultScope.overwrite_default_scope('mmdet3d'):
            torch.manual_seed(0)
            module = MMDET3D_MODELS.build(cfg)
    return module, [w for w in caught if issubclass(w.category, BEVLossesTrapWarning)]


LOGITS = dict(type='bev_losses.GaussianFocalLoss', activated=False)


def test_center_head_logits_trap_is_real():
    """mmdet3d's CenterHead feeds clip_sigmoid(logits) to a loss that takes logits."""
    feats, samples = _center_inputs()
    gts = [samples[0].gt_instances_3d]
    trapped, _ = _build_recording(_small_center_head_cfg(loss_cls=LOGITS))
    fixed, _ = _build_recording(_small_center_head_cfg(type='bev_losses.CenterHead',
                                                       loss_cls=LOGITS))
    fixed.load_state_dict(trapped.state_dict())
    preds = fixed(feats)
    logits = [p[0]['heatmap'].detach().clone() for p in preds]
    ours = fixed.loss_by_feat(preds, gts)
    theirs = trapped.loss_by_feat(trapped(feats), gts)
    heatmaps, *_ = fixed.get_targets(gts)
    for task, (raw, target) in enumerate(zip(logits, heatmaps)):
        num_pos = max(target.eq(1).float().sum().item(), 1)
        # independent: mmdet's loss on the sigmoid of the logits is what the loss should be
        expected = MMDetGaussianFocalLoss()(raw.sigmoid(), target, avg_factor=num_pos)
        key = f'task{task}.loss_heatmap'
        torch.testing.assert_close(ours[key].detach(), expected, rtol=1e-5, atol=1e-6)
        assert abs(float(theirs[key].detach()) - float(expected)) > 0.05 * float(expected), key


def test_center_head_logits_trap_warns_once_at_construction():
    _, caught = _build_recording(_small_center_head_cfg(loss_cls=LOGITS))
    assert len(caught) == 1
    message = str(caught[0].message)
    assert 'CenterHead.loss_cls' in message and "bev_losses.CenterHead" in message
    assert 'clip_sigmoid' in message
    _, again = _build_recording(_small_center_head_cfg(loss_cls=LOGITS))
    assert again == []  # once per head class, key and trap


@pytest.mark.parametrize('cfg', [
    _small_center_head_cfg(type='bev_losses.CenterHead', loss_cls=LOGITS),       # fixed head
    _small_center_head_cfg(loss_cls=dict(type='bev_losses.GaussianFocalLoss')),  # probabilities
    _small_center_head_cfg(),                                                     # mmdet's
])
def test_center_head_no_warning_without_the_trap(cfg):
    head, caught = _build_recording(cfg)
    assert caught == [] and find_traps(head) == []


def test_no_warning_for_a_loss_built_outside_a_head():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        bev_losses.GaussianFocalLoss(activated=False)
        with DefaultScope.overwrite_default_scope('mmdet3d'):
            MMDET3D_MODELS.build(dict(LOGITS))
    assert not [w for w in caught if issubclass(w.category, BEVLossesTrapWarning)]


def test_anchor_head_sampling_and_use_sigmoid_traps_warn_and_fixed_head_does_not():
    cfg = _pointpillars_head_cfg(type='bev_losses.FocalLoss')   # use_sigmoid not spelled
    cfg.train_cfg.sampler = dict(type='PseudoSampler')         # so that mmdet3d's builds
    head, caught = _build_recording(dict(cfg, type='Anchor3DHead'))
    kinds = sorted(t.trap for t in find_traps(head))
    assert kinds == ['anchor_sampling_by_type_string', 'use_sigmoid_from_dict']
    assert len(caught) == 2
    text = ' '.join(str(w.message) for w in caught)
    assert "type='bev_losses.Anchor3DHead'" in text and 'use_sigmoid=True' in text
    # the traps are real: sampling on, and one background channel per anchor too many
    assert head.sampling is True and head.num_classes == 4
    fixed, caught = _build_recording(dict(cfg, type='bev_losses.Anchor3DHead'))
    assert caught == [] and find_traps(fixed) == []
    assert fixed.sampling is False and fixed.num_classes == 3


def test_anchor_head_without_sampler_warns_then_fails_loudly():
    cfg = _pointpillars_head_cfg(type='bev_losses.FocalLoss', use_sigmoid=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        with pytest.raises(AttributeError, match='sampler'):
            with DefaultScope.overwrite_default_scope('mmdet3d'):
                MMDET3D_MODELS.build(dict(cfg, type='Anchor3DHead'))
    messages = [str(w.message) for w in caught if issubclass(w.category, BEVLossesTrapWarning)]
    assert len(messages) == 1 and 'type-string test' in messages[0]


@pytest.mark.parametrize('rel, traps_expected', [
    ('pv_rcnn/pv_rcnn_8xb2-80e_kitti-3d-3class.py', True),    # sizes its classifier by it
    ('parta2/parta2_hv_secfpn_8xb2-cyclic-80e_kitti-3d-3class.py', False),  # only stores it
])
def test_roi_bbox_heads_read_use_sigmoid_from_the_dict(rel, traps_expected):
    from mmengine.config import Config

    from _swap_helpers import mim_configs
    cfg = Config.fromfile(mim_configs() / rel).model.roi_head.bbox_head
    head, caught = _build_recording(dict(cfg, loss_cls=dict(type='bev_losses.FocalLoss')))
    assert head.use_sigmoid_cls is False and head.loss_cls.use_sigmoid is True
    name = type(head).__name__
    if traps_expected:
        assert len(caught) == 1 and f'{name}.loss_cls' in str(caught[0].message)
        assert [t.trap for t in find_traps(head)] == ['use_sigmoid_from_dict']
        spelled, _ = _build_recording(
            dict(cfg, loss_cls=dict(type='bev_losses.FocalLoss', use_sigmoid=True)))
        # the trap is real: one classifier output more without use_sigmoid in the dict
        assert head.cls_out_channels == spelled.cls_out_channels + 1
    else:
        assert caught == [] and find_traps(head) == []
    spelled, caught = _build_recording(
        dict(cfg, loss_cls=dict(type='bev_losses.FocalLoss', use_sigmoid=True)))
    assert caught == [] and find_traps(spelled) == []


def test_mmdet_anchor_head_reads_use_sigmoid_from_the_dict():
    from mmdet.registry import MODELS as MMDET_MODELS
    cfg = dict(type='RetinaHead', num_classes=3, in_channels=8, feat_channels=8,
               stacked_convs=1,
               anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                     scales_per_octave=1, ratios=[1.0], strides=[8]),
               bbox_coder=dict(type='DeltaXYWHBBoxCoder'),
               loss_cls=dict(type='bev_losses.FocalLoss'))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        with DefaultScope.overwrite_default_scope('mmdet'):
            head = MMDET_MODELS.build(cfg)
    caught = [w for w in caught if issubclass(w.category, BEVLossesTrapWarning)]
    assert head.cls_out_channels == 4 and len(caught) == 1   # a background channel too many
    assert 'RetinaHead.loss_cls' in str(caught[0].message)


def test_warning_does_not_break_construction_when_inspection_fails(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError('inspection failed')

    monkeypatch.setattr(traps, '_constructing_head', boom)
    head, caught = _build_recording(_small_center_head_cfg(loss_cls=LOGITS))
    assert caught == [] and head.loss_cls.activated is False
