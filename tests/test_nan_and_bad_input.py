"""NaN in a prediction never becomes a finite loss; bad arguments raise errors that name them.

Part 1: a NaN planted in one (non-ignored) element of ``pred`` must come out as NaN, or the
call must raise, for every loss configuration of ``_loss_cases``, every reduction, with and
without ``weight`` and ``avg_factor``; for GIoU in every box format and every box coordinate.

Part 2: a table of bad arguments and inputs, one test case each: the call raises ``ValueError``
or ``TypeError`` whose message names the offending argument (and both shapes for mismatches).
"""
import re

import pytest
import torch

import bev_losses.losses as L
from _loss_cases import CASE_IDS, CASES, BY_ID, call

# ===================================================================== part 1: NaN propagation
VARIANTS = [  # (reduction, use_weight, avg_factor)
    ('none', False, None), ('mean', False, None), ('sum', False, None),
    ('none', True, None), ('mean', True, None), ('sum', True, None),
    ('mean', False, 4.0), ('mean', True, 4.0), ('none', True, 4.0),
]
VARIANT_IDS = [f'{r}{"-weight" if w else ""}{"-avg_factor" if a else ""}'
               for r, w, a in VARIANTS]


NAN_CASES = [pytest.param(c, id=c.id) for c in CASES]


def _nan_or_raises(fn):
    """Call ``fn``; it must raise a ValueError naming the NaN / pred, or return a NaN."""
    try:
        out = fn()
    except ValueError as err:  # raising is allowed, at the boundary and saying why
        assert re.search('nan|pred', str(err), re.I), f'raised without naming the NaN: {err}'
        return None
    assert torch.isnan(out).any(), f'NaN in pred became the finite loss {out}'
    return out


@pytest.mark.parametrize('variant', VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize('case', NAN_CASES)
def test_nan_in_pred_is_never_a_finite_loss(case, variant):
    reduction, use_weight, avg_factor = variant
    loss = case.build()
    pred, target, kw = case.inputs()
    weight = None
    if use_weight:
        shape = call(loss, pred, target, kw, reduction_override='none').shape
        weight = torch.rand(shape, generator=torch.Generator().manual_seed(2)) + 0.5
    bad = pred.clone()
    bad.view(-1)[case.nan_index] = float('nan')
    out = _nan_or_raises(lambda: call(loss, bad, target, kw, weight=weight,
                                      avg_factor=avg_factor, reduction_override=reduction))
    if out is not None and reduction == 'none':
        # the NaN stays where it was: the sample holding it, not some other one
        clean = call(loss, pred, target, kw, weight=weight, avg_factor=avg_factor,
                     reduction_override='none')
        changed = torch.isnan(out) | (out != clean)
        # at most one sample's worth of elements (a softmax row) may change
        assert changed.sum() <= max(1, clean.numel() // max(1, clean.shape[0])), \
            'a NaN in one element changed unrelated samples'


@pytest.mark.parametrize('case', [c for c in CASES if c.id.startswith('kl_div')],
                         ids=[c.id for c in CASES if c.id.startswith('kl_div')])
def test_nan_in_pred_batchmean(case):
    pred, target, kw = case.inputs()
    bad = pred.clone()
    bad.view(-1)[case.nan_index] = float('nan')
    _nan_or_raises(lambda: call(case.build(), bad, target, kw,
                                reduction_override='batchmean'))


BOX_COLUMNS = {
    'xyxy': ['x1', 'y1', 'x2', 'y2'],
    'bev': ['x', 'y', 'dx', 'dy', 'yaw'],
    '3d': ['x', 'y', 'z', 'dx', 'dy', 'dz', 'yaw'],
}
BOX_NAN = [(f, i) for f, cols in BOX_COLUMNS.items() for i in range(len(cols))]


@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
@pytest.mark.parametrize('box_format,col', BOX_NAN,
                         ids=[f'{f}-{BOX_COLUMNS[f][i]}' for f, i in BOX_NAN])
def test_nan_in_any_box_coordinate(box_format, col, reduction):
    """NaN in any coordinate of a predicted box, for pairs that overlap and pairs that don't."""
    pred, target, _ = BY_ID[f'giou_{box_format}'].inputs()
    far = target.clone()
    far[:, 0] += 100.0  # disjoint pairs: the NaN must not hide behind a zero intersection
    loss = L.GIoULoss(box_format=box_format)
    for tgt in (target, far):
        for row in (0, 3):  # an identical pair (row 0) and a generic one
            bad = pred.clone().requires_grad_(False)
            bad[row, col] = float('nan')
            out = _nan_or_raises(lambda: loss(bad, tgt, reduction_override=reduction))
            if out is not None and reduction == 'none':
                assert torch.isnan(out[row])
                others = torch.arange(len(out)) != row
                assert torch.isfinite(out[others]).all()


@pytest.mark.parametrize('fn_name', ['bev_iou_giou', 'box3d_iou_giou'])
def test_nan_in_geometry_functions(fn_name):
    from bev_losses.ops import rotated_iou
    fn = getattr(rotated_iou, fn_name)
    pred, target, _ = BY_ID['giou_bev' if fn_name == 'bev_iou_giou' else 'giou_3d'].inputs()
    for col in range(pred.shape[1]):
        bad = pred.clone()
        bad[2, col] = float('nan')
        for a, b in ((bad, target), (target, bad)):
            iou, giou = fn(a, b)
            assert torch.isnan(iou[2]) and torch.isnan(giou[2])


# ============================================================= part 2: bad arguments and inputs
def _p(n=4, c=3):
    return torch.randn(n, c, generator=torch.Generator().manual_seed(3))


def _lab(*values):
    return torch.tensor(values, dtype=torch.long)


def _boxes(n, w):
    b = torch.rand(n, w, generator=torch.Generator().manual_seed(4)) + 1.0
    return b


ALL_LOSSES = [L.CrossEntropyLoss, L.FocalLoss, L.GaussianFocalLoss, L.KLDivLoss, L.L1Loss,
              L.MSELoss, L.SmoothL1Loss, L.GIoULoss]


def _case(id, fn, exc, match, both_shapes=None, marks=()):
    return pytest.param(fn, exc, match, both_shapes, id=id, marks=marks)


def _ctor(cls, **kw):
    return lambda: cls(**kw)


def _fwd(cls, ctor, pred, target, **kw):
    return lambda: cls(**ctor)(pred, target, **kw)


BAD = []
# ---- reduction / reduction_override: every loss
for cls in ALL_LOSSES:
    BAD.append(_case(f'{cls.__name__}-reduction', _ctor(cls, reduction='avg'), ValueError,
                     'reduction'))
    BAD.append(_case(f'{cls.__name__}-reduction-not-str', _ctor(cls, reduction=None),
                     ValueError, 'reduction'))
    BAD.append(_case(f'{cls.__name__}-loss_weight-str', _ctor(cls, loss_weight='1.0'),
                     TypeError, 'loss_weight'))
    BAD.append(_case(f'{cls.__name__}-loss_weight-None', _ctor(cls, loss_weight=None),
                     TypeError, 'loss_weight'))

_OVERRIDE_INPUTS = {
    'CrossEntropyLoss': (_p(), _lab(0, 1, 2, 0)),
    'FocalLoss': (_p(), _lab(0, 1, 3, 0)),
    'GaussianFocalLoss': (_p().sigmoid(), torch.rand(4, 3)),
    'KLDivLoss': (_p().log_softmax(1), _p().softmax(1)),
    'L1Loss': (_p(), _p()),
    'MSELoss': (_p(), _p()),
    'SmoothL1Loss': (_p(), _p()),
    'GIoULoss': (torch.tensor([[0., 0., 2., 2.]]), torch.tensor([[1., 1., 3., 3.]])),
}
for cls in ALL_LOSSES:
    pred, target = _OVERRIDE_INPUTS[cls.__name__]
    BAD.append(_case(f'{cls.__name__}-reduction_override',
                     _fwd(cls, {}, pred, target, reduction_override='avg'), ValueError,
                     'reduction_override'))
    BAD.append(_case(f'{cls.__name__}-avg_factor-with-sum',
                     _fwd(cls, {}, pred, target, avg_factor=2.0, reduction_override='sum'),
                     ValueError, 'avg_factor'))
    BAD.append(_case(f'{cls.__name__}-pred-not-tensor',
                     _fwd(cls, {}, pred.tolist(), target), TypeError, 'pred'))
    BAD.append(_case(f'{cls.__name__}-pred-integer',
                     _fwd(cls, {}, pred.long(), target), TypeError, 'pred'))

BAD += [
    _case('KLDivLoss-avg_factor-with-batchmean',
          _fwd(L.KLDivLoss, {}, *_OVERRIDE_INPUTS['KLDivLoss'], avg_factor=2.0,
               reduction_override='batchmean'), ValueError, 'avg_factor'),
    # ---- negative gamma / beta, bad alpha, temperature, eps
    _case('FocalLoss-gamma-negative', _ctor(L.FocalLoss, gamma=-1.0), ValueError, 'gamma'),
    _case('FocalLoss-softmax-gamma-negative', _ctor(L.FocalLoss, use_sigmoid=False,
                                                    gamma=-0.5), ValueError, 'gamma'),
    _case('sigmoid_focal_loss-gamma-negative',
          lambda: L.sigmoid_focal_loss(_p(), _lab(0, 1, 2, 3), gamma=-2.0), ValueError,
          'gamma'),
    _case('FocalLoss-alpha-above-1', _ctor(L.FocalLoss, alpha=1.5), ValueError, 'alpha'),
    _case('GaussianFocalLoss-gamma-negative', _ctor(L.GaussianFocalLoss, gamma=-4.0),
          ValueError, 'gamma'),
    _case('GaussianFocalLoss-alpha-negative', _ctor(L.GaussianFocalLoss, alpha=-2.0),
          ValueError, 'alpha'),
    _case('SmoothL1Loss-beta-negative', _ctor(L.SmoothL1Loss, beta=-1.0), ValueError, 'beta'),
    _case('smooth_l1_loss-beta-negative',
          lambda: L.smooth_l1_loss(_p(), _p(), beta=-1e-3), ValueError, 'beta'),
    _case('SmoothL1Loss-beta-str', _ctor(L.SmoothL1Loss, beta='1'), TypeError, 'beta'),
    _case('KLDivLoss-temperature-zero', _ctor(L.KLDivLoss, from_logits=True, temperature=0.0),
          ValueError, 'temperature'),
    _case('GIoULoss-eps-zero', _ctor(L.GIoULoss, eps=0.0), ValueError, 'eps'),
    _case('CrossEntropyLoss-label_smoothing-above-1',
          _ctor(L.CrossEntropyLoss, label_smoothing=1.5), ValueError, 'label_smoothing'),
    # ---- box formats
    _case('GIoULoss-box_format-unknown', _ctor(L.GIoULoss, box_format='xywh'), ValueError,
          'box_format'),
    _case('GIoULoss-box_format-None', _ctor(L.GIoULoss, box_format=None), ValueError,
          'box_format'),
    _case('giou_loss-box_format-unknown',
          lambda: L.giou_loss(_boxes(2, 4), _boxes(2, 4), box_format='cxcywh'), ValueError,
          'box_format'),
]
for fmt, width in (('xyxy', 4), ('bev', 5), ('3d', 7)):
    for wrong in {4, 5, 7} - {width}:
        BAD.append(_case(f'GIoULoss-{fmt}-pred-width-{wrong}',
                         _fwd(L.GIoULoss, dict(box_format=fmt), _boxes(3, wrong),
                              _boxes(3, width)), ValueError, r'pred.*\(3, %d\)' % wrong))
        BAD.append(_case(f'GIoULoss-{fmt}-target-width-{wrong}',
                         _fwd(L.GIoULoss, dict(box_format=fmt), _boxes(3, width),
                              _boxes(3, wrong)), ValueError, r'target.*\(3, %d\)' % wrong))
    BAD.append(_case(f'GIoULoss-{fmt}-1d-boxes',
                     _fwd(L.GIoULoss, dict(box_format=fmt), _boxes(1, width)[0],
                          _boxes(1, width)[0]), ValueError, 'pred'))

# ---- shape mismatch: message names both shapes
SHAPE = [
    ('CrossEntropyLoss-index', L.CrossEntropyLoss, {}, _p(4, 3), _lab(0, 1, 2)),
    ('CrossEntropyLoss-prob', L.CrossEntropyLoss, {}, _p(4, 3), torch.rand(5, 3)),
    ('CrossEntropyLoss-sigmoid', L.CrossEntropyLoss, dict(use_sigmoid=True), _p(4, 3),
     torch.rand(4, 2)),
    ('FocalLoss-labels', L.FocalLoss, {}, _p(4, 3), _lab(0, 1, 2)),
    ('FocalLoss-soft', L.FocalLoss, {}, _p(4, 3), torch.rand(4, 5)),
    ('FocalLoss-softmax', L.FocalLoss, dict(use_sigmoid=False), _p(4, 3), _lab(0, 1)),
    ('GaussianFocalLoss', L.GaussianFocalLoss, {}, _p(4, 3).sigmoid(), torch.rand(4, 2)),
    ('KLDivLoss', L.KLDivLoss, {}, _p(4, 3), torch.rand(3, 4)),
    ('L1Loss', L.L1Loss, {}, _p(4, 3), _p(5, 3)),
    ('MSELoss', L.MSELoss, {}, _p(4, 3), _p(4, 2)),
    ('SmoothL1Loss', L.SmoothL1Loss, {}, _p(4, 3), _p(3, 4)),
    ('GIoULoss-xyxy-N', L.GIoULoss, {}, _boxes(4, 4), _boxes(3, 4)),
    ('GIoULoss-bev-N', L.GIoULoss, dict(box_format='bev'), _boxes(4, 5), _boxes(2, 5)),
    ('GIoULoss-3d-N', L.GIoULoss, dict(box_format='3d'), _boxes(1, 7), _boxes(2, 7)),
]
for id, cls, ctor, pred, target in SHAPE:
    BAD.append(_case(f'{id}-shape-mismatch', _fwd(cls, ctor, pred, target), ValueError,
                     'shape', both_shapes=(tuple(pred.shape), tuple(target.shape))))

# ---- labels out of range / negative (not the ignore index) / float labels
BAD += [
    _case('CrossEntropyLoss-label-equal-C', _fwd(L.CrossEntropyLoss, {}, _p(), _lab(0, 1, 3, 0)),
          ValueError, 'target'),
    _case('CrossEntropyLoss-label-negative',
          _fwd(L.CrossEntropyLoss, {}, _p(), _lab(0, -1, 2, 0)), ValueError, 'target'),
    _case('CrossEntropyLoss-label-negative-not-ignore_index',
          _fwd(L.CrossEntropyLoss, dict(ignore_index=255), _p(), _lab(0, -100, 2, 0)),
          ValueError, 'target'),
    _case('CrossEntropyLoss-spatial-label-out-of-range',
          _fwd(L.CrossEntropyLoss, {}, torch.randn(2, 3, 2, 2),
               torch.tensor([[[0, 1], [2, 7]], [[0, 0], [0, 0]]])), ValueError, 'target'),
    _case('CrossEntropyLoss-sigmoid-label-above-C',
          _fwd(L.CrossEntropyLoss, dict(use_sigmoid=True), _p(), _lab(0, 1, 4, 3)),
          ValueError, 'target'),
    _case('CrossEntropyLoss-sigmoid-label-negative',
          _fwd(L.CrossEntropyLoss, dict(use_sigmoid=True), _p(), _lab(0, -2, 1, 3)),
          ValueError, 'target'),
    _case('FocalLoss-label-above-C', _fwd(L.FocalLoss, {}, _p(), _lab(0, 1, 4, 3)),
          ValueError, 'target'),
    _case('FocalLoss-label-negative', _fwd(L.FocalLoss, {}, _p(), _lab(0, -1, 1, 3)),
          ValueError, 'target'),
    _case('FocalLoss-label-negative-not-ignore_index',
          _fwd(L.FocalLoss, dict(ignore_index=-1), _p(), _lab(0, -2, 1, 3)), ValueError,
          'target'),
    _case('FocalLoss-activated-label-above-C',
          _fwd(L.FocalLoss, dict(activated=True), _p().sigmoid(), _lab(0, 1, 9, 3)),
          ValueError, 'target'),
    _case('FocalLoss-softmax-label-equal-C',
          _fwd(L.FocalLoss, dict(use_sigmoid=False), _p(), _lab(0, 1, 3, 2)), ValueError,
          'target'),
    _case('FocalLoss-softmax-label-negative',
          _fwd(L.FocalLoss, dict(use_sigmoid=False), _p(), _lab(0, 1, -5, 2)), ValueError,
          'target'),
    _case('CrossEntropyLoss-float-labels',
          _fwd(L.CrossEntropyLoss, {}, _p(), torch.tensor([0., 1., 2., 0.])), TypeError,
          'target'),
    _case('CrossEntropyLoss-sigmoid-float-labels',
          _fwd(L.CrossEntropyLoss, dict(use_sigmoid=True), _p(), torch.tensor([0., 1., 2., 3.])),
          TypeError, 'target'),
    _case('FocalLoss-float-labels', _fwd(L.FocalLoss, {}, _p(), torch.tensor([0., 1., 2., 3.])),
          TypeError, 'target'),
    _case('FocalLoss-softmax-float-labels',
          _fwd(L.FocalLoss, dict(use_sigmoid=False), _p(), torch.tensor([0., 1., 2., 0.])),
          TypeError, 'target'),
    _case('CrossEntropyLoss-bool-target',
          _fwd(L.CrossEntropyLoss, {}, _p(), torch.tensor([True, False, True, False])),
          TypeError, 'target'),
    _case('CrossEntropyLoss-prob-target-above-1',
          _fwd(L.CrossEntropyLoss, {}, _p(), torch.full((4, 3), 1.5)), ValueError, 'target'),
    _case('FocalLoss-soft-target-negative',
          _fwd(L.FocalLoss, {}, _p(), torch.full((4, 3), -0.5)), ValueError, 'target'),
    # probabilities in (activated=True) must be probabilities
    _case('FocalLoss-activated-pred-above-1',
          _fwd(L.FocalLoss, dict(activated=True), torch.full((4, 3), 1.5), _lab(0, 1, 2, 3)),
          ValueError, 'pred'),
    _case('GaussianFocalLoss-activated-pred-above-1',
          _fwd(L.GaussianFocalLoss, {}, torch.full((4, 3), 1.5), torch.rand(4, 3)),
          ValueError, 'pred'),
    _case('GaussianFocalLoss-activated-pred-negative',
          _fwd(L.GaussianFocalLoss, {}, torch.full((4, 3), -0.5), torch.rand(4, 3) * 0.9),
          ValueError, 'pred'),
    _case('GaussianFocalLoss-integer-target',
          _fwd(L.GaussianFocalLoss, {}, _p().sigmoid(), torch.ones(4, 3, dtype=torch.long)),
          TypeError, 'target'),
    _case('GaussianFocalLoss-float-pos_inds',
          lambda: L.GaussianFocalLoss()(_p().sigmoid(), torch.rand(4, 3), torch.rand(4, 3)),
          TypeError, 'pos_inds'),
    _case('GaussianFocalLoss-pos_labels-out-of-range',
          lambda: L.GaussianFocalLoss()(_p().sigmoid(), torch.rand(4, 3), _lab(0, 1),
                                        _lab(0, 3)), ValueError, 'pos_labels'),
    _case('GaussianFocalLoss-pos_inds-out-of-range',
          lambda: L.GaussianFocalLoss()(_p().sigmoid(), torch.rand(4, 3), _lab(0, 4),
                                        _lab(0, 1)), ValueError, 'pos_inds'),
    _case('GaussianFocalLoss-pos_inds-without-pos_labels',
          lambda: L.GaussianFocalLoss()(_p().sigmoid(), torch.rand(4, 3), _lab(0, 1)),
          ValueError, 'pos_labels'),
    _case('CrossEntropyLoss-class_weight-length',
          _fwd(L.CrossEntropyLoss, dict(class_weight=[1.0, 2.0]), _p(), _lab(0, 1, 1, 0)),
          ValueError, 'class_weight'),
    _case('FocalLoss-class_weight-str', _ctor(L.FocalLoss, class_weight='1,2,3'), TypeError,
          'class_weight'),
    _case('CrossEntropyLoss-ignore_index-float', _ctor(L.CrossEntropyLoss, ignore_index=1.5),
          TypeError, 'ignore_index'),
]

# ---- weight of incompatible shape (every loss), weight not a tensor
_WEIGHT_INPUTS = dict(_OVERRIDE_INPUTS)
_WEIGHT_INPUTS['GIoULoss'] = (_boxes(4, 4), _boxes(4, 4))
for cls in ALL_LOSSES:
    pred, target = _WEIGHT_INPUTS[cls.__name__]
    BAD.append(_case(f'{cls.__name__}-weight-shape',
                     _fwd(cls, {}, pred, target, weight=torch.ones(7)), ValueError,
                     r'weight.*\(7,\)'))
    BAD.append(_case(f'{cls.__name__}-weight-list',
                     _fwd(cls, {}, pred, target, weight=[1.0] * 4), TypeError, 'weight'))


@pytest.mark.parametrize('fn,exc,match,both_shapes', BAD)
def test_bad_argument_raises_naming_it(fn, exc, match, both_shapes):
    with pytest.raises(exc, match=match) as info:
        fn()
    if both_shapes is not None:
        msg = str(info.value)
        for shape in both_shapes:
            assert re.search(re.escape(str(shape)), msg), f'{shape} not named in: {msg}'


# ---- things that must NOT raise (controls for the table above)
@pytest.mark.parametrize('cls,ctor,pred,target', [
    (L.CrossEntropyLoss, {}, _p(), _lab(0, -100, 2, 0)),
    (L.CrossEntropyLoss, dict(ignore_index=255), _p(), _lab(0, 255, 2, 0)),
    (L.CrossEntropyLoss, dict(use_sigmoid=True), _p(), _lab(0, 3, 2, -100)),
    (L.FocalLoss, {}, _p(), _lab(0, 3, 2, 1)),
    (L.FocalLoss, dict(ignore_index=-1), _p(), _lab(0, -1, 2, 3)),
    (L.FocalLoss, dict(use_sigmoid=False), _p(), _lab(0, -100, 2, 1)),
], ids=['ce-ignore-default', 'ce-ignore-255', 'ce-sigmoid-background-and-ignore',
        'focal-background', 'focal-ignore', 'focal-softmax-ignore'])
def test_valid_edge_labels_are_accepted(cls, ctor, pred, target):
    out = cls(**ctor)(pred, target)
    assert torch.isfinite(out)
