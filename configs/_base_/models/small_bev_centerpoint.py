# A small pillar CenterPoint built from mmdet3d's own parts (PillarFeatureNet, PointPillarsScatter,
# SECOND, SECONDFPN) with ``bev_losses.CenterHead``, sized for CPU training: 0.4 m pillars on a
# 38.4 m x 38.4 m range (96 x 96 grid), at most 8 points per pillar (x, y, z, intensity, time
# lag: three sweeps), 32 pillar features, a 3-stage SECOND with 32/64/128 channels, a
# 3 x 32-channel SECONDFPN, the heatmap at stride 2 (48 x 48 cells of 0.8 m), one task holding
# every class; two convs on the heatmap, orientation and velocity branches, one on the others.
# About 0.6 M parameters.
#
# Everything that depends on the point-cloud range or the classes is written out here so that a
# child config for other data (see configs/small_bev/*_nus.py) overrides the same few keys.
bev_range = [-19.2, -19.2, -3.0, 19.2, 19.2, 3.0]
voxel_size = [0.4, 0.4, 6.0]
grid_size = [96, 96, 1]  # (range / voxel_size)
out_size_factor = 2  # backbone stride 2 (first stage) -> heatmap 48 x 48
bev_class_names = ['car', 'pedestrian', 'cyclist']  # the synthetic data set's
pfn_channels = 32
backbone_channels = [32, 64, 128]
neck_channels = [32, 32, 32]
post_center_range = [
    bev_range[0] - 5, bev_range[1] - 5, -10.0,
    bev_range[3] + 5, bev_range[4] + 5, 10.0
]

model = dict(
    type='CenterPoint',
    data_preprocessor=dict(
        type='Det3DDataPreprocessor',
        voxel=True,
        voxel_layer=dict(
            max_num_points=8,
            point_cloud_range=bev_range,
            voxel_size=voxel_size,
            max_voxels=(16000, 16000))),
    pts_voxel_encoder=dict(
        type='PillarFeatureNet',
        in_channels=5,  # x, y, z, intensity, time lag of the sweep
        feat_channels=[pfn_channels],
        with_distance=False,
        voxel_size=voxel_size,
        point_cloud_range=bev_range,
        norm_cfg=dict(type='bev_losses.FlatBatchNorm1d', eps=1e-3, momentum=0.1),
        # legacy=True (PillarFeatureNet's default, as mmdet3d's PointPillars configs): the points'
        # x, y, z are replaced by their offsets from the pillar centre, so every input feature is
        # local. With legacy=False (mmdet3d's CenterPoint configs) the absolute x, y (std 8.8 m on
        # this range) sit beside the offsets, time lag and intensity (std 0.09-0.18): each pillar
        # feature is then mostly the pillar's position, and the shape and motion that give heading
        # and velocity are learned slowly. Measured (baseline, 3 seeds, 800 iterations, data v4):
        # legacy=False mAP 0.630 / mAOE 0.819 / mAVE 1.826, legacy=True 0.804 / 0.300 / 1.048.
        legacy=True),
    pts_middle_encoder=dict(
        type='PointPillarsScatter',
        in_channels=pfn_channels,
        output_shape=grid_size[:2][::-1]),
    pts_backbone=dict(
        type='SECOND',
        in_channels=pfn_channels,
        out_channels=backbone_channels,
        layer_nums=[1, 2, 2],
        layer_strides=[2, 2, 2],
        norm_cfg=dict(type='BN', eps=1e-3, momentum=0.1),
        conv_cfg=dict(type='Conv2d', bias=False)),
    pts_neck=dict(
        type='SECONDFPN',
        in_channels=backbone_channels,
        out_channels=neck_channels,
        upsample_strides=[1, 2, 4],
        norm_cfg=dict(type='BN', eps=1e-3, momentum=0.1),
        upsample_cfg=dict(type='deconv', bias=False),
        use_conv_for_no_stride=True),
    pts_bbox_head=dict(
        type='bev_losses.CenterHead',
        in_channels=sum(neck_channels),
        tasks=[dict(num_class=len(bev_class_names), class_names=bev_class_names)],
        # (channels, convs): orientation and velocity get mmdet3d's two convs (measured: one conv
        # learned velocity much more slowly), offset / height / size one each (less compute)
        common_heads=dict(
            reg=(2, 1), height=(1, 1), dim=(3, 1), rot=(2, 2), vel=(2, 2)),
        share_conv_channel=32,
        bbox_coder=dict(
            type='CenterPointBBoxCoder',
            pc_range=bev_range[:2],
            post_center_range=post_center_range,
            max_num=200,
            score_threshold=0.05,
            out_size_factor=out_size_factor,
            voxel_size=voxel_size[:2],
            code_size=9),
        separate_head=dict(
            type='SeparateHead', init_bias=-2.19, final_kernel=3, head_conv=32),
        loss_cls=dict(type='mmdet.GaussianFocalLoss', reduction='mean'),
        loss_bbox=dict(type='mmdet.L1Loss', reduction='mean', loss_weight=0.25),
        norm_bbox=True),
    train_cfg=dict(
        pts=dict(
            point_cloud_range=bev_range,
            grid_size=grid_size,
            voxel_size=voxel_size,
            out_size_factor=out_size_factor,
            dense_reg=1,
            gaussian_overlap=0.1,
            max_objs=200,
            min_radius=2,
            # velocity weighted twice the other terms (mmdet3d's nuScenes configs: 0.2); learnable
            # here, from the sweeps. Measured with legacy=True (baseline, 3 seeds): weight 1 mAP
            # 0.804 / mAOE 0.300 / mAVE 1.048, weight 2 0.787 / 0.311 / 0.912 (docs/main_job.md).
            code_weights=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0])),
    test_cfg=dict(
        pts=dict(
            post_center_limit_range=post_center_range,
            max_per_img=200,
            max_pool_nms=False,
            min_radius=[4, 12, 10, 1, 0.85, 0.175],
            score_threshold=0.05,
            pc_range=bev_range[:2],
            out_size_factor=out_size_factor,
            voxel_size=voxel_size[:2],
            nms_type='rotate',
            pre_max_size=1000,
            post_max_size=100,
            nms_thr=0.2)))
