"""Training hooks (MMEngine). Imported by the registry on look-up only."""
from .head_init_hook import SeparateHeadInitHook

__all__ = ['SeparateHeadInitHook']
