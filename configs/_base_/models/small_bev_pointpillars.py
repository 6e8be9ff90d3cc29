# The anchor-based twin of small_bev_centerpoint.py: the same pillar encoder, SECOND backbone and
# SECONDFPN neck (same sizes, same 0.4 m pillars on the 38.4 m x 38.4 m range), with
# ``bev_losses.Anchor3DHead`` (mmdet3d's PointPillars head deciding anchor sampling from the built
# classification loss) so anchor classification and direction losses can be compared. Anchors:
# one size per class at 0 and 90 degrees, on the stride-2 feature map (48 x 48 cells).
bev_range = [-19.2, -19.2, -3.0, 19.2, 19.2, 3.0]
voxel_size = [0.4, 0.4, 6.0]
grid_size = [96, 96, 1]
bev_class_names = ['car', 'pedestrian', 'cyclist']  # the synthetic data set's
# mean (dx, dy, dz) per class of the synthetic data set; the anchor bottom at the ground plane
anchor_sizes = [[4.5, 1.85, 1.6], [0.75, 0.65, 1.75], [1.8, 0.65, 1.7]]
anchor_z = -1.84
pfn_channels = 32
backbone_channels = [32, 64, 128]
neck_channels = [32, 32, 32]


# Max3DIoUAssigner per class (BEV IoU of axis-aligned nearest boxes): (pos_iou_thr, neg_iou_thr)
# for car, pedestrian, cyclist (KITTI's PointPillars thresholds)
assigner_iou_thrs = [(0.6, 0.45), (0.5, 0.35), (0.5, 0.35)]

model = dict(
    type='VoxelNet',
    data_preprocessor=dict(
        type='Det3DDataPreprocessor',
        voxel=True,
        voxel_layer=dict(
            max_num_points=8,
            point_cloud_range=bev_range,
            voxel_size=voxel_size,
            max_voxels=(16000, 16000))),
    voxel_encoder=dict(
        type='PillarFeatureNet',
        in_channels=5,  # x, y, z, intensity, time lag of the sweep
        feat_channels=[pfn_channels],
        with_distance=False,
        voxel_size=voxel_size,
        point_cloud_range=bev_range,
        norm_cfg=dict(type='bev_losses.FlatBatchNorm1d', eps=1e-3, momentum=0.1),
        # legacy=True: every input feature local (offsets from the pillar centre instead of the
        # absolute x, y); why, and what it changed: small_bev_centerpoint.py.
        legacy=True),
    middle_encoder=dict(
        type='PointPillarsScatter',
        in_channels=pfn_channels,
        output_shape=grid_size[:2][::-1]),
    backbone=dict(
        type='SECOND',
        in_channels=pfn_channels,
        out_channels=backbone_channels,
        layer_nums=[1, 2, 2],
        layer_strides=[2, 2, 2],
        norm_cfg=dict(type='BN', eps=1e-3, momentum=0.1),
        conv_cfg=dict(type='Conv2d', bias=False)),
    neck=dict(
        type='SECONDFPN',
        in_channels=backbone_channels,
        out_channels=neck_channels,
        upsample_strides=[1, 2, 4],
        norm_cfg=dict(type='BN', eps=1e-3, momentum=0.1),
        upsample_cfg=dict(type='deconv', bias=False),
        use_conv_for_no_stride=True),
    bbox_head=dict(
        type='bev_losses.Anchor3DHead',
        num_classes=len(bev_class_names),
        in_channels=sum(neck_channels),
        feat_channels=sum(neck_channels),
        use_direction_classifier=True,
        assign_per_class=True,
        anchor_generator=dict(
            type='AlignedAnchor3DRangeGenerator',
            ranges=[[bev_range[0], bev_range[1], anchor_z, bev_range[3], bev_range[4], anchor_z]
                    for _ in anchor_sizes],
            sizes=anchor_sizes,
            rotations=[0, 1.57],
            reshape_out=False),
        diff_rad_by_sin=True,
        bbox_coder=dict(type='DeltaXYZWLHRBBoxCoder'),
        loss_cls=dict(
            type='bev_losses.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
            loss_weight=1.0),
        loss_bbox=dict(type='bev_losses.SmoothL1Loss', beta=1.0 / 9.0, loss_weight=2.0),
        loss_dir=dict(type='bev_losses.CrossEntropyLoss', use_sigmoid=False, loss_weight=0.2)),
    train_cfg=dict(
        assigner=[
            dict(type='Max3DIoUAssigner',
                 iou_calculator=dict(type='mmdet3d.BboxOverlapsNearest3D'),
                 pos_iou_thr=pos, neg_iou_thr=neg, min_pos_iou=neg, ignore_iof_thr=-1)
            for pos, neg in assigner_iou_thrs
        ],
        allowed_border=0,
        pos_weight=-1,
        debug=False),
    test_cfg=dict(
        use_rotate_nms=True,
        nms_across_levels=False,
        nms_thr=0.01,
        score_thr=0.05,
        min_bbox_size=0,
        nms_pre=500,
        max_num=100))
