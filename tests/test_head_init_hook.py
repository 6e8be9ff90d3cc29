"""bev_losses.SeparateHeadInitHook: sets mmdet3d CenterHead's heatmap bias (mmdet3d#1554)."""
import types

import pytest
import torch


def _runner(model):
    import logging
    return types.SimpleNamespace(model=model, logger=logging.getLogger('test'))


def _center_head():
    from mmdet3d.models.dense_heads import CenterHead
    head = CenterHead(
        in_channels=8, tasks=[dict(num_class=2, class_names=['a', 'b'])],
        common_heads=dict(reg=(2, 2), height=(1, 2)), share_conv_channel=8,
        bbox_coder=dict(type='CenterPointBBoxCoder', pc_range=[-10, -10], post_center_range=None,
                        max_num=10, score_threshold=0.1, out_size_factor=1, voxel_size=[1, 1],
                        code_size=7),
        separate_head=dict(type='SeparateHead', init_bias=-2.19, final_kernel=3))
    return head


def test_mmdet3d_centerhead_skips_task_head_init_and_hook_sets_bias():
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    from bev_losses.engine import SeparateHeadInitHook
    torch.manual_seed(0)
    head = _center_head()
    head.init_weights()
    bias = head.task_heads[0].heatmap[-1].bias
    assert not torch.allclose(bias, torch.full_like(bias, -2.19))  # mmdet3d#1554
    weights = {k: v.clone() for k, v in head.state_dict().items()}
    SeparateHeadInitHook().before_run(_runner(head))
    assert torch.equal(bias, torch.full_like(bias, -2.19))
    for k, v in head.state_dict().items():  # nothing else touched in 'bias' mode
        if k != 'task_heads.0.heatmap.1.bias':
            assert torch.equal(v, weights[k]), k


def test_full_mode_runs_init_weights_and_bad_mode():
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    from bev_losses.engine import SeparateHeadInitHook
    torch.manual_seed(0)
    head = _center_head()
    before = head.task_heads[0].reg[0].conv.weight.clone()
    SeparateHeadInitHook(mode='full').before_run(_runner(head))
    assert head.task_heads[0].is_init
    assert not torch.equal(before, head.task_heads[0].reg[0].conv.weight)
    bias = head.task_heads[0].heatmap[-1].bias
    assert torch.equal(bias, torch.full_like(bias, -2.19))
    with pytest.raises(ValueError, match='mode'):
        SeparateHeadInitHook(mode='kaiming')
