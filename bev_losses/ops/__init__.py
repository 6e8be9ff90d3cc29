"""Box geometry reusable by assigners and metrics (pure PyTorch, CPU and CUDA)."""
from .rotated_iou import *  # noqa: F401,F403
from .rotated_iou import __all__ as _rot_all

__all__ = list(_rot_all)
