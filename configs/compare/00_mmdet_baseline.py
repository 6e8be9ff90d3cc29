# Baseline: mmdet3d's own CenterHead with mmdet's losses, exactly as mmdet3d's CenterPoint configs
# use them (mmdet.GaussianFocalLoss on the heatmap, mmdet.L1Loss with weight 0.25 on the boxes).
_base_ = './_centerpoint_base.py'
compare_label = ('the reference: mmdet3d CenterHead + mmdet.GaussianFocalLoss + mmdet.L1Loss, '
                 'as shipped by mmdet3d')
model = dict(
    pts_bbox_head=dict(
        type='CenterHead',
        loss_cls=dict(_delete_=True, type='mmdet.GaussianFocalLoss', reduction='mean'),
        loss_bbox=dict(_delete_=True, type='mmdet.L1Loss', reduction='mean', loss_weight=0.25)))
