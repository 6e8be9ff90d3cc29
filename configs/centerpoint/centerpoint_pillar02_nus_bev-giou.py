# CenterPoint (pillar 0.2 m) on nuScenes with bev-losses' head and losses
# (centerpoint_pillar02_nus_bev-gfocal-l1.py) plus a rotated GIoU term on the boxes decoded at the
# positive heatmap cells: the loss dict gains task{i}.loss_iou for every task.
#   box_format='bev': (x, y, dx, dy, yaw) boxes; '3d' adds z and dz (bottom face, as
#   LiDARInstance3DBoxes). The weight 0.5 is a starting point, not a tuned value.
_base_ = ['./centerpoint_pillar02_nus_bev-gfocal-l1.py']

model = dict(
    pts_bbox_head=dict(
        loss_iou=dict(type='bev_losses.GIoULoss', box_format='bev', reduction='mean',
                      loss_weight=0.5)))
