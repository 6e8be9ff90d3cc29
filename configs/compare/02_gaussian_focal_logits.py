# Heatmap classification from logits: bev_losses.GaussianFocalLoss(activated=False) takes the raw
# heatmap logits (bev_losses.CenterHead skips mmdet3d's sigmoid + clamp to [1e-4, 1 - 1e-4]) and
# computes the focal terms in log space.
_base_ = './_centerpoint_base.py'
compare_label = ('heatmap loss on logits (log-space GaussianFocal, no clamp) instead of '
                 'clamped probabilities')
model = dict(
    pts_bbox_head=dict(
        type='bev_losses.CenterHead',
        loss_cls=dict(_delete_=True, type='bev_losses.GaussianFocalLoss', activated=False,
                      reduction='mean'),
        loss_bbox=dict(_delete_=True, type='bev_losses.L1Loss', reduction='mean',
                       loss_weight=0.25)))
