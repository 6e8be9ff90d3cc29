"""bev-losses: drop-in losses for BEV 3D detectors (MMEngine / mmdet3d)."""
from .version import __version__

__all__ = ['__version__']
