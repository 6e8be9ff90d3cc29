# Shared by the CenterHead rows of the default matrix (not a row itself: leading underscore).
# The comparison's budget: 500 iterations at batch 2 (1000 frames, about 3.3 passes over the 300
# training frames), one-cycle AdamW; sized so the whole default matrix runs in about 20 minutes
# on 2 CPU cores (docs/main_job.md). At equal frames seen, batch 2 beat batch 4 (more updates).
_base_ = '../small_bev/centerpoint_synthetic.py'
max_iters = 500
train_dataloader = dict(batch_size=2)
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='OneCycleLR', eta_max=3e-3, total_steps=max_iters, pct_start=0.3,
         div_factor=10.0, final_div_factor=100.0, by_epoch=False, begin=0, end=max_iters),
]
default_hooks = dict(checkpoint=dict(interval=100))
