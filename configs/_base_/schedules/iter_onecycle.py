# Iteration-based schedule: AdamW with a one-cycle learning rate (the fast-converging schedule
# of short CPU runs). A config that changes `max_iters` must change `total_steps`/`end` with it
# (tools/compare_losses.py --max-iters does this for you).
max_iters = 600
lr = 3e-3
# AdamW with `fused=True`: torch's one-kernel update, on CPUs and GPUs (4x-10x faster than the
# per-tensor loop on this model's 60 tensors on one CPU core; the same update to float rounding:
# benchmarks/bench_optimizer_step.py).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=lr, betas=(0.95, 0.99), weight_decay=0.01, fused=True),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='OneCycleLR', eta_max=lr, total_steps=max_iters, pct_start=0.3,
         div_factor=10.0, final_div_factor=100.0, by_epoch=False, begin=0, end=max_iters),
]
# Validation once, at the end of training.
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=4)
