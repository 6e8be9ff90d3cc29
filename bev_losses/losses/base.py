"""Shared base of every bev-losses module: reduction, ``loss_weight`` and float32 compute."""
import contextlib
from typing import Optional

import torch
from torch import Tensor, nn

from .reduction import check_reduction

LOW_PRECISION = (torch.float16, torch.bfloat16)


def to_float32(x: Optional[Tensor]) -> Optional[Tensor]:
    """Upcast half / bfloat16 tensors to float32; leave float32/float64 and integers alone."""
    if isinstance(x, torch.Tensor) and x.dtype in LOW_PRECISION:
        return x.float()
    return x


def _takes_device_type() -> bool:
    try:
        torch.is_autocast_enabled('cpu')
    except TypeError:  # torch < 2.4: no device argument
        return False
    return True


_AUTOCAST_BY_DEVICE = _takes_device_type()


def _autocast_enabled(device_type: str) -> bool:
    if device_type == 'meta':
        return False
    if _AUTOCAST_BY_DEVICE:
        return torch.is_autocast_enabled(device_type)
    if device_type == 'cuda':
        return torch.is_autocast_enabled()
    return device_type == 'cpu' and torch.is_autocast_cpu_enabled()


def no_autocast(t: Tensor) -> contextlib.AbstractContextManager:
    """A context in which autocast is off on ``t``'s device: the losses compute in float32
    (float64 stays float64) even inside ``torch.autocast``."""
    device_type = t.device.type
    if _autocast_enabled(device_type):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()


class BaseLoss(nn.Module):
    """Holds ``reduction`` and ``loss_weight`` and resolves ``reduction_override``.

    Args:
        reduction: ``'none'``, ``'mean'`` or ``'sum'``; anything else is a ``ValueError``.
        loss_weight: multiplier of the reduced loss (a real number).
    """

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)
        if isinstance(loss_weight, bool) or not isinstance(loss_weight, (int, float)):
            raise TypeError(f'loss_weight must be a number, got {type(loss_weight).__name__} '
                            f'({loss_weight!r})')
        self.loss_weight = float(loss_weight)

    def resolve_reduction(self, reduction_override: Optional[str]) -> str:
        """``reduction_override`` if given (validated), else the module's ``reduction``."""
        if reduction_override is None:
            return self.reduction
        return check_reduction(reduction_override, 'reduction_override')

    def set_class_weight(self, class_weight) -> None:
        """Keep ``class_weight`` (``None`` or a sequence of numbers, checked) as the tuple
        ``self.class_weight`` and as a float64 buffer that moves with the module
        (``model.cuda()``): a loss call never copies it from the host (a copy from Python
        numbers to a GPU synchronises the stream). Not saved in the state dict."""
        from .checks import check_class_weight_arg
        self.class_weight = check_class_weight_arg(class_weight)
        self.register_buffer(
            'class_weight_buffer', None if self.class_weight is None else
            torch.tensor(self.class_weight, dtype=torch.float64), persistent=False)

    def scale(self, loss: Tensor) -> Tensor:
        """``loss_weight * loss``."""
        return loss * self.loss_weight

    def extra_repr(self) -> str:
        return f'reduction={self.reduction!r}, loss_weight={self.loss_weight}'
