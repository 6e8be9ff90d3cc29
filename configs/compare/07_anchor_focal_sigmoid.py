# Anchor head (PointPillars-style, bev_losses.Anchor3DHead): sigmoid bev_losses.FocalLoss on the
# anchors, bev_losses.SmoothL1Loss on the box deltas, bev_losses.CrossEntropyLoss (softmax) on the
# two direction bins: PointPillars' recipe with every loss from bev_losses.
_base_ = './_pointpillars_base.py'
compare_label = ('anchor head: sigmoid Focal (cls) + SmoothL1 (boxes) + CrossEntropy '
                 '(direction), PointPillars\' recipe')
