# Shared by the CenterHead rows of the default matrix (not a row itself: leading underscore).
# The comparison's budget: 1000 iterations at batch 1 (1000 frames, about 3.3 passes over the
# 300 training frames), one-cycle AdamW; sized so the default matrix with 3 seeds (27 runs, two
# side by side) fits in 30 minutes on 2 CPU cores (estimated 27 minutes alone; docs/main_job.md).
# At equal frames seen, more updates won: batch 1 x 1000 reached mAP 0.347 where batch 2 x 500
# reached 0.268 (five-class data v1).
_base_ = '../small_bev/centerpoint_synthetic.py'
max_iters = 1000
train_dataloader = dict(batch_size=1)
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='OneCycleLR', eta_max=3e-3, total_steps=max_iters, pct_start=0.3,
         div_factor=10.0, final_div_factor=100.0, by_epoch=False, begin=0, end=max_iters),
]
default_hooks = dict(checkpoint=dict(interval=250))
