"""Loss modules and their functional forms. Needs torch (and mmengine for the registry) only.

Each file holds one loss: a functional core (element-wise loss and reduced loss) and a thin
``nn.Module`` registered in ``bev_losses.registry.MODELS``.
"""
import sys as _sys

from . import cross_entropy, focal, gaussian_focal, giou, kl_div, regression
from .checks import get_value_checks, set_value_checks, value_checks
from .cross_entropy import *  # noqa: F401,F403
from .focal import *  # noqa: F401,F403
from .gaussian_focal import *  # noqa: F401,F403
from .giou import *  # noqa: F401,F403
from .kl_div import *  # noqa: F401,F403
from .reduction import align_weight, check_reduction, weight_reduce_loss
from .regression import *  # noqa: F401,F403

__all__ = ['align_weight', 'check_reduction', 'weight_reduce_loss', 'get_value_checks',
           'set_value_checks', 'value_checks']
# the functions cross_entropy / kl_div shadow their modules' names here: read the modules
for _name in ('cross_entropy', 'focal', 'gaussian_focal', 'giou', 'kl_div', 'regression'):
    __all__ += list(_sys.modules[f'{__name__}.{_name}'].__all__)
del _name
