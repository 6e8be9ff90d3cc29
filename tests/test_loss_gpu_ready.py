"""The loss core is ready for the GPU: no host reads, ``torch.compile`` and ``torch.func``.

* ``meta`` tensors hold no data, so any read of tensor data on the host (``.item()``,
  ``.tolist()``, ``bool(t)``, ``nonzero``, boolean-mask indexing, a data-dependent shape)
  raises: forward + backward of every loss and mode on ``meta`` tensors of training shapes,
  called as the mmdet3d heads call them, proves the training path holds none (on a GPU each
  would be a device synchronisation).
* ``torch.compile(fullgraph=True)`` (inductor, CPU) of every loss and mode equals eager, values
  and gradients; a CenterPoint-style head with our losses shows no graph break inside a loss.
* ``torch.func.grad`` through every loss and mode equals autograd; ``vmap`` of the per-sample
  losses equals a loop.
* The value-check switch: ``'auto'`` checks CPU tensors only, ``'always'`` / ``'never'``.
"""
import pytest
import torch

import bev_losses
import bev_losses.losses as L
from _loss_cases import CASE_IDS, CASES, COMPILE_FULLGRAPH, call

META = torch.device('meta')


def _meta(*shape, dtype=torch.float32):
    return torch.empty(*shape, dtype=dtype, device=META)


def _meta_leaf(*shape):
    return _meta(*shape).requires_grad_()


# Training shapes and the arguments mmdet3d heads pass (Anchor3DHead: (B*H*W*A, C) logits,
# label weights, avg_factor = positives; CenterHead: (B, C, H, W) heatmaps; boxes: positives).
A, C = 2 * 248 * 216 * 2, 3
TRAINING = {
    'ce_softmax_index': (L.CrossEntropyLoss(), lambda: (
        _meta_leaf(A, 2), _meta(A, dtype=torch.long), dict(weight=_meta(A), avg_factor=100.0))),
    'ce_softmax_index_spatial': (L.CrossEntropyLoss(ignore_index=255), lambda: (
        _meta_leaf(2, 19, 64, 64), _meta(2, 64, 64, dtype=torch.long), {})),
    'ce_softmax_prob_target': (L.CrossEntropyLoss(), lambda: (
        _meta_leaf(A, C), _meta(A, C), {})),
    'ce_softmax_smooth_class_weight': (
        L.CrossEntropyLoss(label_smoothing=0.1, class_weight=[1.0, 2.0, 0.5]),
        lambda: (_meta_leaf(A, C), _meta(A, dtype=torch.long), {})),
    'ce_sigmoid_labels': (L.CrossEntropyLoss(use_sigmoid=True), lambda: (
        _meta_leaf(A, C), _meta(A, dtype=torch.long), dict(weight=_meta(A), avg_factor=100.0))),
    'ce_sigmoid_soft_target': (L.CrossEntropyLoss(use_sigmoid=True), lambda: (
        _meta_leaf(A, C), _meta(A, C), {})),
    'focal_sigmoid_labels': (L.FocalLoss(), lambda: (
        _meta_leaf(A, C), _meta(A, dtype=torch.long), dict(weight=_meta(A), avg_factor=100.0))),
    'focal_sigmoid_labels_ignore': (L.FocalLoss(ignore_index=-1, class_weight=[1, 2, 3]),
                                    lambda: (_meta_leaf(A, C), _meta(A, dtype=torch.long), {})),
    'focal_sigmoid_soft_target': (L.FocalLoss(gamma=1.5), lambda: (
        _meta_leaf(A, C), _meta(A, C), dict(avg_factor=100.0))),
    'focal_activated_labels': (L.FocalLoss(activated=True), lambda: (
        _meta_leaf(A, C), _meta(A, dtype=torch.long), {})),
    'focal_activated_soft_target': (L.FocalLoss(activated=True), lambda: (
        _meta_leaf(A, C), _meta(A, C), {})),
    'focal_softmax_index': (L.FocalLoss(use_sigmoid=False, class_weight=[1.0, 2.0, 0.5]),
                            lambda: (_meta_leaf(A, C), _meta(A, dtype=torch.long), {})),
    'focal_softmax_prob_target': (L.FocalLoss(use_sigmoid=False, gamma=0.5), lambda: (
        _meta_leaf(A, C), _meta(A, C), {})),
    'gaussian_focal_activated': (L.GaussianFocalLoss(), lambda: (
        _meta_leaf(4, 10, 128, 128), _meta(4, 10, 128, 128), dict(avg_factor=_meta(())))),
    'gaussian_focal_logits': (L.GaussianFocalLoss(activated=False), lambda: (
        _meta_leaf(4, 10, 128, 128), _meta(4, 10, 128, 128), dict(avg_factor=50.0))),
    'gaussian_focal_pos_inds': (L.GaussianFocalLoss(), lambda: (
        _meta_leaf(20000, 80), _meta(20000, 80),
        dict(pos_inds=_meta(300, dtype=torch.long), pos_labels=_meta(300, dtype=torch.long)))),
    'kl_div': (L.KLDivLoss(), lambda: (_meta_leaf(A, C), _meta(A, C), {})),
    'kl_div_log_target_batchmean': (L.KLDivLoss(log_target=True, reduction='batchmean'),
                                    lambda: (_meta_leaf(A, C), _meta(A, C), {})),
    'kl_div_distill': (L.KLDivLoss(from_logits=True, temperature=2.0), lambda: (
        _meta_leaf(A, C), _meta(A, C), {})),
    'l1': (L.L1Loss(), lambda: (_meta_leaf(500, 10), _meta(500, 10),
                                dict(weight=_meta(500, 10), avg_factor=_meta(())))),
    'mse': (L.MSELoss(), lambda: (_meta_leaf(500, 10), _meta(500, 10), {})),
    'smooth_l1': (L.SmoothL1Loss(beta=1 / 9), lambda: (
        _meta_leaf(500, 7), _meta(500, 7), dict(weight=_meta(500, 7), avg_factor=100.0))),
    'smooth_l1_beta0': (L.SmoothL1Loss(beta=0.0), lambda: (_meta_leaf(500, 7), _meta(500, 7),
                                                           {})),
    'giou_xyxy': (L.GIoULoss(), lambda: (_meta_leaf(100000, 4), _meta(100000, 4),
                                         dict(weight=_meta(100000, 4), avg_factor=10.0))),
    'giou_bev': (L.GIoULoss(box_format='bev'), lambda: (_meta_leaf(10000, 5), _meta(10000, 5),
                                                        dict(weight=_meta(10000)))),
    'giou_3d': (L.GIoULoss(box_format='3d'), lambda: (_meta_leaf(10000, 7), _meta(10000, 7),
                                                      {})),
}


def test_every_case_has_a_training_shape():
    assert sorted(TRAINING) == sorted(CASE_IDS)


@pytest.mark.parametrize('case_id', CASE_IDS)
@pytest.mark.parametrize('reduction', [None, 'none'])
def test_forward_backward_on_meta_tensors(case_id, reduction):
    """No host read of tensor data on the training path (``meta`` tensors raise on any)."""
    loss_fn, make = TRAINING[case_id]
    pred, target, kwargs = make()
    if reduction is not None:
        kwargs = {**kwargs, 'reduction_override': reduction}
        kwargs.pop('avg_factor', None)
    out = loss_fn(pred, target, **kwargs)
    assert out.device == META and out.dtype == torch.float32
    out.sum().backward()
    assert pred.grad is not None and pred.grad.shape == pred.shape


# ------------------------------------------------------------------------- torch.compile
needs_compile = pytest.mark.skipif(
    not COMPILE_FULLGRAPH, reason=f'torch {torch.__version__}: dynamo traces setup_context '
    'Functions and knows torch.compiler.is_compiling from torch 2.3 on')


def _grads_of(fn, pred, target, kwargs):
    p = pred.clone().requires_grad_()
    out = fn(p, target, kwargs)
    weight = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)
    (out * weight).sum().backward()
    return out.detach(), p.grad


@needs_compile
@pytest.mark.parametrize('case_id', CASE_IDS)
def test_compile_fullgraph_equals_eager(case_id):
    case = CASES[CASE_IDS.index(case_id)]
    pred, target, kwargs = case.inputs(seed=1)
    pred = pred.double()
    target = target.double() if target.is_floating_point() else target
    for reduction in ('none', 'mean'):
        loss = case.build()

        def fn(p, t, kw, loss=loss, reduction=reduction):
            if case_id == 'kl_div_log_target_batchmean' and reduction == 'mean':
                reduction = 'batchmean'
            return call(loss, p, t, kw, reduction_override=reduction)

        torch._dynamo.reset()
        compiled = torch.compile(fn, fullgraph=True, dynamic=False)
        ref_out, ref_grad = _grads_of(fn, pred, target, kwargs)
        out, grad = _grads_of(compiled, pred, target, kwargs)
        torch.testing.assert_close(out, ref_out, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-12, atol=1e-12)


def _small_center_head(**losses):
    """A tiny mmdet3d CenterPoint head (two tasks, 16 x 16 map) built from a config dict."""
    from mmdet3d.registry import MODELS as MMDET3D_MODELS
    from mmengine.registry import DefaultScope
    pc_range, voxel, osf, feat = [-25.6, -25.6, -5.0, 25.6, 25.6, 3.0], [0.8, 0.8, 8.0], 4, 16
    cfg = dict(
        type='bev_losses.CenterHead', in_channels=8,
        tasks=[dict(num_class=1, class_names=['car']),
               dict(num_class=2, class_names=['pedestrian', 'cyclist'])],
        common_heads=dict(reg=(2, 2), height=(1, 2), dim=(3, 2), rot=(2, 2), vel=(2, 2)),
        share_conv_channel=8,
        bbox_coder=dict(type='CenterPointBBoxCoder', pc_range=pc_range[:2],
                        post_center_range=[-30, -30, -10, 30, 30, 10], max_num=50,
                        score_threshold=0.0, out_size_factor=osf, voxel_size=voxel[:2],
                        code_size=9),
        separate_head=dict(type='SeparateHead', init_bias=-2.19, final_kernel=3),
        norm_bbox=True,
        train_cfg=dict(grid_size=[64, 64, 1], voxel_size=voxel, out_size_factor=osf,
                       dense_reg=1, gaussian_overlap=0.1, max_objs=20, min_radius=2,
                       point_cloud_range=pc_range, code_weights=[1.0] * 8 + [0.2, 0.2]),
        **losses)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        head = MMDET3D_MODELS.build(cfg)
    return head.train(), [torch.randn(1, 8, feat, feat)]


@needs_compile
@pytest.mark.parametrize('mode', ['probabilities', 'logits_and_iou'])
def test_center_head_loss_is_one_graph(mode):
    """``bev_losses.CenterHead.loss_by_feat`` (target assignment, heatmap, box and IoU losses)
    compiles into a single graph (``fullgraph=True``): no graph break anywhere, so no host read
    (mmdet3d's own ``loss_by_feat`` on this head: 7 graphs, 6 breaks, its ``.item()`` among them)."""
    pytest.importorskip('mmdet3d')
    from mmdet3d.structures import LiDARInstance3DBoxes
    from mmengine.structures import InstanceData
    losses = dict(
        loss_cls=dict(type='bev_losses.GaussianFocalLoss', reduction='mean'),
        loss_bbox=dict(type='bev_losses.L1Loss', reduction='mean', loss_weight=0.25))
    if mode == 'logits_and_iou':
        losses['loss_cls']['activated'] = False
        losses['loss_iou'] = dict(type='bev_losses.GIoULoss', box_format='bev', loss_weight=0.5)
    head, feats = _small_center_head(**losses)
    boxes = torch.tensor([[3.3, -4.1, -1.6, 4.2, 1.8, 1.5, 0.4, 1.0, 0.0],
                          [-6.0, 5.5, -1.5, 0.7, 0.6, 1.7, -1.2, 0.0, 0.5],
                          [8.0, 7.0, -1.4, 1.8, 0.6, 1.6, 2.9, 0.3, 0.3]])
    gts = [InstanceData(bboxes_3d=LiDARInstance3DBoxes(boxes, box_dim=9),
                        labels_3d=torch.tensor([0, 1, 2]))]
    preds = head(feats)
    heatmap_before = preds[0][0]['heatmap'].detach().clone()
    eager = head.loss_by_feat(preds, gts)
    assert torch.equal(preds[0][0]['heatmap'], heatmap_before)  # outputs not changed in place
    assert 'anno_box' not in preds[0][0]
    assert ('task0.loss_iou' in eager) == (mode == 'logits_and_iou')
    torch._dynamo.reset()
    # fullgraph=True raises at the first graph break
    compiled = torch.compile(head.loss_by_feat, fullgraph=True)(preds, gts)
    assert list(compiled) == list(eager)
    for key in eager:
        torch.testing.assert_close(compiled[key], eager[key], rtol=1e-5, atol=1e-6)
    torch._dynamo.reset()


# ---------------------------------------------------------------------------- torch.func
@pytest.mark.parametrize('case_id', CASE_IDS)
def test_func_grad_equals_autograd(case_id):
    case = CASES[CASE_IDS.index(case_id)]
    pred, target, kwargs = case.inputs(seed=2)
    pred = pred.double()
    target = target.double() if target.is_floating_point() else target
    loss = case.build()

    def total(p):
        return call(loss, p, target, kwargs)

    p = pred.clone().requires_grad_()
    (ref,) = torch.autograd.grad(total(p), p)
    torch.testing.assert_close(torch.func.grad(total)(pred), ref, rtol=1e-12, atol=1e-12)


VMAP_CASES = ['focal_sigmoid_labels', 'focal_sigmoid_soft_target', 'gaussian_focal_activated',
              'gaussian_focal_logits', 'ce_softmax_index', 'ce_sigmoid_labels', 'l1', 'mse',
              'smooth_l1', 'giou_xyxy', 'giou_bev', 'giou_3d', 'kl_div']


@pytest.mark.parametrize('case_id', VMAP_CASES)
def test_vmap_of_grad_equals_a_loop(case_id):
    """Per-sample gradients over a batch of predictions (``vmap(grad(loss))``)."""
    case = CASES[CASE_IDS.index(case_id)]
    preds = torch.stack([case.inputs(seed=s)[0] for s in range(3)]).double()
    _, target, kwargs = case.inputs(seed=0)
    target = target.double() if target.is_floating_point() else target
    loss = case.build()

    def total(p):
        return call(loss, p, target, kwargs)

    batched = torch.func.vmap(torch.func.grad(total))(preds)
    for i in range(3):
        torch.testing.assert_close(batched[i], torch.func.grad(total)(preds[i]),
                                   rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------- value checks
def test_value_check_modes():
    pred, labels = torch.randn(4, 3), torch.tensor([0, 1, 7, 2])
    loss = L.FocalLoss(use_sigmoid=False)
    assert bev_losses.get_value_checks() == 'auto'
    with pytest.raises(ValueError, match=r'target labels must lie in \[0, 2\].*got 7'):
        loss(pred, labels)                                   # CPU: checked by default
    with bev_losses.value_checks('never'):
        assert bev_losses.get_value_checks() == 'never'
        with pytest.raises((IndexError, RuntimeError)):     # torch's own gather bound check
            loss(pred, labels)
        # a sigmoid label past the background is then background, as the dense formula says
        out = L.FocalLoss()(pred, labels, reduction_override='none')
        torch.testing.assert_close(out[2], L.FocalLoss()(pred[2:3], torch.tensor([3]),
                                                         reduction_override='none')[0])
    assert bev_losses.get_value_checks() == 'auto'
    with bev_losses.value_checks('always'):
        with pytest.raises(ValueError, match='target labels'):
            loss(pred, labels)
    with pytest.raises(ValueError, match='value checks mode'):
        bev_losses.set_value_checks('sometimes')
    # meta tensors are never value-checked, whatever the mode
    with bev_losses.value_checks('always'):
        L.FocalLoss()(_meta(4, 3), _meta(4, dtype=torch.long))


@pytest.mark.parametrize('case_id', CASE_IDS)
def test_no_tensor_from_host_numbers_per_call(case_id, monkeypatch):
    """A tensor built from Python numbers on a GPU is a host-to-device copy that synchronises
    the stream. No loss call builds one: constants are fills on the device, class weights are
    a buffer that moves with the module (built once, at construction)."""
    case = CASES[CASE_IDS.index(case_id)]
    loss = case.build()
    if case_id.startswith(('ce_', 'focal_')):
        loss = case.build(class_weight=[1.0, 2.0, 0.5, 1.5])
        assert 'class_weight_buffer' not in loss.state_dict()
    pred, target, kwargs = case.inputs(seed=3)
    pred.requires_grad_()

    def refuse(*args, **kw):
        raise AssertionError(f'a tensor built from host data during the loss call: {args!r}')

    for name in ('tensor', 'as_tensor', 'from_numpy'):
        monkeypatch.setattr(torch, name, refuse)
    with bev_losses.value_checks('never'):      # as on a GPU
        out = call(loss, pred, target, kwargs)
        out.backward()
    assert pred.grad is not None


@pytest.mark.parametrize('box_format', ['bev', '3d'])
def test_center_head_iou_term_is_dense_and_equals_the_kept_boxes(box_format):
    """``bev_losses.CenterHead``'s IoU term runs over every target slot with the missing ones
    weighted 0 (no boolean-mask indexing, no host read); it equals the GIoU loss of the kept
    slots' decoded boxes alone, averaged over them."""
    pytest.importorskip('mmdet3d')
    from bev_losses.models.center_head import decode_center_boxes
    head, feats = _small_center_head(
        loss_cls=dict(type='bev_losses.GaussianFocalLoss', reduction='mean'),
        loss_bbox=dict(type='bev_losses.L1Loss', reduction='mean', loss_weight=0.25),
        loss_iou=dict(type='bev_losses.GIoULoss', box_format=box_format))
    from mmdet3d.structures import LiDARInstance3DBoxes
    from mmengine.structures import InstanceData
    boxes = torch.tensor([[3.3, -4.1, -1.6, 4.2, 1.8, 1.5, 0.4, 1.0, 0.0],
                          [-6.0, 5.5, -1.5, 0.7, 0.6, 1.7, -1.2, 0.0, 0.5],
                          [8.0, 7.0, -1.4, 1.8, 0.6, 1.6, 2.9, 0.3, 0.3]])
    gts = [InstanceData(bboxes_3d=LiDARInstance3DBoxes(boxes, box_dim=9),
                        labels_3d=torch.tensor([0, 1, 2]))]
    preds = head(feats)
    losses = head.loss_by_feat(preds, gts)
    _, anno_boxes, inds, masks = head.get_targets(gts)
    cfg = head.train_cfg
    geometry = dict(feat_width=int(cfg['grid_size'][0]) // int(cfg['out_size_factor']),
                    out_size_factor=cfg['out_size_factor'], voxel_size=cfg['voxel_size'],
                    pc_range=cfg['point_cloud_range'], norm_bbox=head.norm_bbox)
    for task, out in enumerate(preds):
        out = out[0]
        code = torch.cat([out[k] for k in ('reg', 'height', 'dim', 'rot', 'vel')], dim=1)
        pred = head._gather_feat(code.permute(0, 2, 3, 1).flatten(1, 2), inds[task])
        keep = masks[task].bool()
        assert keep.any()
        p = decode_center_boxes(pred[keep], inds[task][keep], **geometry)
        t = decode_center_boxes(anno_boxes[task][keep], inds[task][keep], **geometry)
        if box_format == 'bev':
            p, t = p[:, [0, 1, 3, 4, 6]], t[:, [0, 1, 3, 4, 6]]
        expected = L.GIoULoss(box_format=box_format, reduction='sum')(p, t) / int(keep.sum())
        torch.testing.assert_close(losses[f'task{task}.loss_iou'], expected)
