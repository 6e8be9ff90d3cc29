# Runtime of the small BEV detectors (iteration-based training, seeded).
default_scope = 'mmdet3d'
custom_imports = dict(imports=['bev_losses'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Keeps the newest checkpoints and always writes the last one: `--resume` continues from it.
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100, max_keep_ckpts=2,
                    save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='Det3DVisualizationHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches this to 'gloo' on a machine without CUDA.
    dist_cfg=dict(backend='nccl'),
)

# Same config and seed -> same numbers, run to run (on the same machine and thread count).
randomness = dict(seed=0, deterministic=False)

# Scalars go to <work_dir>/<timestamp>/vis_data/scalars.json. For TensorBoard add one line:
#   vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='Det3DLocalVisualizer', vis_backends=vis_backends, name='visualizer')

log_processor = dict(type='LogProcessor', window_size=10, by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False

# mmdet3d's CenterHead never initialises its task heads (mmdet3d#1554: heatmap bias 0 instead of
# init_bias=-2.19); this hook applies their init_weights before training. No-op for other heads.
custom_hooks = [dict(type='bev_losses.SeparateHeadInitHook')]
