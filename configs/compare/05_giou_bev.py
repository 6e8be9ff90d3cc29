# The IoU term: L1 plus bev_losses.GIoULoss(box_format='bev') on the decoded rotated BEV boxes at
# the positive locations (bev_losses.CenterHead's loss_iou).
_base_ = './_centerpoint_base.py'
compare_label = 'adds a rotated BEV GIoU loss on the decoded boxes to L1'
model = dict(
    pts_bbox_head=dict(
        type='bev_losses.CenterHead',
        loss_cls=dict(_delete_=True, type='bev_losses.GaussianFocalLoss', reduction='mean'),
        loss_bbox=dict(_delete_=True, type='bev_losses.L1Loss', reduction='mean',
                       loss_weight=0.25),
        loss_iou=dict(type='bev_losses.GIoULoss', box_format='bev', reduction='mean',
                      loss_weight=0.5)))
