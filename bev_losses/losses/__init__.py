"""Loss modules and their functional forms. Needs torch (and mmengine for the registry) only."""
from .reduction import align_weight, check_reduction, weight_reduce_loss

__all__ = ['align_weight', 'check_reduction', 'weight_reduce_loss']
