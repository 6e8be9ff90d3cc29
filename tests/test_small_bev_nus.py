"""The nuScenes variant of the small BEV detector (configs/small_bev/centerpoint_nus.py) builds
and trains one step on the real nuScenes frame in ../shared/data/real/nuscenes, unchanged except
for the data location."""
import math

import pytest
import torch

from _tool_helpers import REAL_DATA, REPO

NUS = REAL_DATA / 'nuscenes'
pytestmark = pytest.mark.skipif(
    not (NUS / 'nuscenes_infos_demo.pkl').is_file(),
    reason=f'real nuScenes demo frame not found in {NUS} (CI clones shared/ beside the repo)')


def test_nuscenes_config_trains_one_step():
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope, init_default_scope
    from mmengine.runner import Runner

    import bev_losses  # noqa: F401
    cfg = Config.fromfile(str(REPO / 'configs' / 'small_bev' / 'centerpoint_nus.py'))
    cfg.merge_from_dict({
        'train_dataloader.dataset.data_root': str(NUS) + '/',
        'train_dataloader.dataset.ann_file': 'nuscenes_infos_demo.pkl',
        'train_dataloader.dataset.data_prefix': dict(pts=''),
        'train_dataloader.batch_size': 1,
    })
    assert cfg.model.pts_bbox_head.tasks[0].class_names == cfg.class_names  # the data set's
    init_default_scope('mmdet3d')
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        from mmdet3d.registry import MODELS
        torch.manual_seed(0)
        loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
        assert len(loader.dataset) == 1
        batch = next(iter(loader))
        gt = batch['data_samples'][0].gt_instances_3d
        assert len(gt.bboxes_3d) > 0  # objects inside the config's square
        assert int(gt.labels_3d.max()) < 10
        model = MODELS.build(cfg.model)
        model.init_weights()
        head = model.pts_bbox_head
        assert type(head).__module__.startswith('bev_losses')
        assert head.num_classes == [10]
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
        before = {k: v.detach().clone() for k, v in model.named_parameters()}
        log_vars = model.train_step(batch, optim)
    assert {'loss', 'task0.loss_heatmap', 'task0.loss_bbox'} <= set(log_vars)
    for k, v in log_vars.items():
        assert math.isfinite(float(v)), (k, v)
    changed = [k for k, v in model.named_parameters() if not torch.equal(v, before[k])]
    assert any(k.startswith('pts_bbox_head') for k in changed)
    assert any(k.startswith('pts_voxel_encoder') for k in changed)
