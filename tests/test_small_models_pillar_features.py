"""The small models' pillar encoder sees only local features: a pillar's points moved by whole
pillars (with the pillar's grid coordinates) give the same pillar features.

The configs build mmdet3d's ``PillarFeatureNet`` with ``legacy=True``, where the points' x, y
are replaced by their offsets from the pillar centre. With ``legacy=False`` the absolute x, y
(std ~9 m on the synthetic range) are fed beside features of std ~0.1, and heading and velocity
were learned far more slowly (docs/main_job.md). The control case shows that the check can fail.
"""
import pytest
import torch

from _tool_helpers import REPO

CONFIGS = {
    'centerpoint': ('configs/_base_/models/small_bev_centerpoint.py', 'pts_voxel_encoder'),
    'pointpillars': ('configs/_base_/models/small_bev_pointpillars.py', 'voxel_encoder'),
    'centerpoint_nus': ('configs/small_bev/centerpoint_nus.py', 'pts_voxel_encoder'),
}


def _encoder(cfg_path: str, key: str, **override):
    from mmdet3d.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import bev_losses  # noqa: F401
    cfg = Config.fromfile(str(REPO / cfg_path))
    enc_cfg = dict(cfg.model[key], **override)
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        torch.manual_seed(0)
        enc = MODELS.build(enc_cfg)
    return enc.double(), enc_cfg


def _pillars(enc_cfg: dict, shift_cells: tuple):
    """Random points in 40 pillars, and the same points moved by ``shift_cells`` (x, y) pillars."""
    vx, vy = enc_cfg['voxel_size'][:2]
    x0, y0 = enc_cfg['point_cloud_range'][:2]
    gen = torch.Generator().manual_seed(3)
    p, m = 40, 8
    num_points = torch.randint(1, m + 1, (p,), generator=gen)
    cells = torch.randint(0, 20, (p, 2), generator=gen)  # (x, y) pillar index
    feats = torch.zeros(p, m, 5, dtype=torch.float64)
    inside = torch.rand(p, m, 2, generator=gen, dtype=torch.float64)
    feats[..., 0] = x0 + (cells[:, :1] + inside[..., 0]) * vx
    feats[..., 1] = y0 + (cells[:, 1:] + inside[..., 1]) * vy
    feats[..., 2] = torch.rand(p, m, generator=gen, dtype=torch.float64) * 2 - 1.8
    feats[..., 3] = torch.rand(p, m, generator=gen, dtype=torch.float64)
    feats[..., 4] = torch.randint(0, 4, (p, m), generator=gen).double() * 0.15
    feats *= (torch.arange(m) < num_points[:, None]).unsqueeze(-1)  # padding zero, as voxelised
    coors = torch.zeros(p, 4, dtype=torch.long)  # (batch, z, y, x)
    coors[:, 2], coors[:, 3] = cells[:, 1], cells[:, 0]
    moved, moved_coors = feats.clone(), coors.clone()
    real = (torch.arange(m) < num_points[:, None]).double()
    moved[..., 0] += real * shift_cells[0] * vx
    moved[..., 1] += real * shift_cells[1] * vy
    moved_coors[:, 3] += shift_cells[0]
    moved_coors[:, 2] += shift_cells[1]
    return (feats, num_points, coors), (moved, num_points, moved_coors)


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_pillar_features_do_not_depend_on_position(name):
    enc, enc_cfg = _encoder(*CONFIGS[name])
    assert enc_cfg['legacy'] is True
    enc.eval()
    a, b = _pillars(enc_cfg, (37, 51))
    with torch.no_grad():
        fa = enc(*[t.clone() for t in a])
        fb = enc(*[t.clone() for t in b])
    assert fa.shape == (40, enc_cfg['feat_channels'][-1])
    assert fa.abs().max() > 0
    torch.testing.assert_close(fb, fa, rtol=1e-9, atol=1e-9)


def test_control_absolute_coordinates_change_the_features():
    """With ``legacy=False`` the same move changes the features: the check above can fail."""
    enc, enc_cfg = _encoder(*CONFIGS['centerpoint'], legacy=False)
    enc.eval()
    a, b = _pillars(enc_cfg, (37, 51))
    with torch.no_grad():
        fa, fb = enc(*a), enc(*b)
    assert (fb - fa).abs().max() > 1e-2
