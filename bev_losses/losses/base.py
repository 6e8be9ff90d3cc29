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


# one shared no-op context (``nullcontext`` is reusable and reentrant): outside autocast,
# ``no_autocast`` allocates nothing
_NULL_CONTEXT = contextlib.nullcontext()
_any_autocast_enabled = getattr(torch._C, '_is_any_autocast_enabled', None)


def autocast_off() -> bool:
    """``True`` when autocast is off on every device (one C call, ~0.1 us); ``False`` when it
    is on somewhere or this torch build cannot tell. Per-call fast paths that skip
    :func:`no_autocast` and :func:`to_float32` check it first."""
    return _any_autocast_enabled is not None and not _any_autocast_enabled()


def no_autocast(*tensors) -> contextlib.AbstractContextManager:
    """A context that disables autocast on the device of the first tensor given.

    Losses compute in float32 (or float64) even inside ``torch.autocast``. Where autocast is
    not on (checked first for every device at once, ~0.1 us), this is a shared no-op
    ``nullcontext`` (entering ``torch.autocast`` costs ~10 us a call).
    """
    if _any_autocast_enabled is not None and not _any_autocast_enabled():
        return _NULL_CONTEXT
    for t in tensors:
        if isinstance(t, torch.Tensor):
            device = t.device.type
            if torch.is_autocast_enabled(device):
                return torch.autocast(device_type=device, enabled=False)
            return _NULL_CONTEXT
    return _NULL_CONTEXT


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

    def extra_repr(self) -> str:
        return f'reduction={self.reduction!r}, loss_weight={self.loss_weight}'
