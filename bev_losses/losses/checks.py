"""Input validation shared by every loss, and the switch that decides when values are checked.

Two kinds of checks:

* **Structure** (types, dtypes, shapes, option values): always, at the boundary; they read only
  metadata, never tensor data, so they cost no device synchronisation.
* **Values** (labels in range, probabilities in ``[0, 1]``, indices in bounds): these read the
  data back to the host. On a CPU tensor that is free, so by default they run there and raise a
  ``ValueError`` naming the argument and its shape. On a GPU the read would stall the stream on
  every call, so by default they do not run (out-of-range labels then give whatever the dense
  formula gives: a label ``>= C`` of a sigmoid loss is background, of a softmax loss an error of
  torch's own kernel). Turn them on for a debugging run with
  ``bev_losses.set_value_checks('always')`` (or the environment variable
  ``BEV_LOSSES_VALUE_CHECKS=always``); ``'never'`` turns them off on CPU too.

Value checks never run while ``torch.compile`` traces, on ``meta`` tensors, or where the data
cannot be read (inside ``torch.func.vmap``): the training path itself holds no host read.
"""
import contextlib
import numbers
import os
from typing import Iterator, Optional, Sequence

import torch
from torch import Tensor

__all__ = ['set_value_checks', 'get_value_checks', 'value_checks']

VALUE_CHECK_MODES = ('auto', 'always', 'never')
_ENV = 'BEV_LOSSES_VALUE_CHECKS'


def _mode_from_env() -> str:
    mode = os.environ.get(_ENV, 'auto').strip().lower() or 'auto'
    if mode not in VALUE_CHECK_MODES:
        raise ValueError(f'{_ENV} must be one of {VALUE_CHECK_MODES}, got {mode!r}')
    return mode


_mode = _mode_from_env()


def set_value_checks(mode: str) -> None:
    """Choose when loss inputs are value-checked: ``'auto'`` (default: CPU tensors only),
    ``'always'`` (every device; a host synchronisation per check on a GPU) or ``'never'``."""
    global _mode
    if mode not in VALUE_CHECK_MODES:
        raise ValueError(f'value checks mode must be one of {VALUE_CHECK_MODES}, got {mode!r}')
    _mode = mode


def get_value_checks() -> str:
    """The current value-check mode (see :func:`set_value_checks`)."""
    return _mode


@contextlib.contextmanager
def value_checks(mode: str) -> Iterator[None]:
    """Context manager form of :func:`set_value_checks`; restores the previous mode."""
    previous = _mode
    set_value_checks(mode)
    try:
        yield
    finally:
        set_value_checks(previous)


_is_compiling = getattr(getattr(torch, 'compiler', None), 'is_compiling', None)


def should_check_values(t: Tensor) -> bool:
    """Whether the values of ``t`` are to be checked now (mode, device, tracing)."""
    if _mode == 'never' or t.numel() == 0:
        return False
    if _is_compiling is not None and _is_compiling():
        return False
    device = t.device.type
    if device == 'meta':
        return False
    return _mode == 'always' or device == 'cpu'


def host_reads_free(t: Tensor) -> bool:
    """Whether reading ``t``'s data on the host is free here: a CPU tensor, outside
    ``torch.compile`` tracing. The one place where a loss may choose a CPU variant (an index
    list instead of a dense mask); every other device takes the dense, sync-free path."""
    return t.device.type == 'cpu' and not (_is_compiling is not None and _is_compiling())


def _read(x: Tensor):
    """``x.tolist()``, or ``None`` where a function transform hides the data (vmap)."""
    try:
        return x.tolist()
    except RuntimeError:
        return None


# ------------------------------------------------------------------------------ structure
def check_pred(pred, name: str = 'pred', min_dim: int = 1) -> None:
    """``pred`` must be a floating point tensor with at least ``min_dim`` dimensions."""
    if not isinstance(pred, torch.Tensor):
        raise TypeError(f'{name} must be a torch.Tensor, got {type(pred).__name__}')
    if not pred.is_floating_point():
        raise TypeError(f'{name} must be a floating point tensor, got {pred.dtype}')
    if pred.dim() < min_dim:
        raise ValueError(f'{name} must have at least {min_dim} dimension(s), got shape '
                         f'{tuple(pred.shape)}')


def check_target_tensor(target, name: str = 'target') -> None:
    """``target`` must be a tensor of integer labels or floating point values (not bool)."""
    if not isinstance(target, torch.Tensor):
        raise TypeError(f'{name} must be a torch.Tensor, got {type(target).__name__}')
    if target.dtype == torch.bool or target.dtype.is_complex:
        raise TypeError(f'{name} must be integer labels or floating point targets, got '
                        f'{target.dtype}')


def check_index(value, name: str) -> Optional[int]:
    """``None`` or an int (not a bool)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be an int or None, got {type(value).__name__}')
    return value


def check_number(value, name: str, minimum: Optional[float] = None,
                 maximum: Optional[float] = None) -> float:
    """A real number (not a bool, finite) within ``[minimum, maximum]``; returned as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f'{name} must be a number, got {type(value).__name__} ({value!r})')
    value = float(value)
    if value != value or value in (float('inf'), float('-inf')):
        raise ValueError(f'{name} must be finite, got {value!r}')
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        lo = '-inf' if minimum is None else minimum
        hi = 'inf' if maximum is None else maximum
        raise ValueError(f'{name} must lie in [{lo}, {hi}], got {value!r}')
    return value


def check_bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f'{name} must be a bool, got {type(value).__name__}')
    return value


def check_class_weight_arg(class_weight, name: str = 'class_weight'):
    """Constructor-time check: ``None`` or a 1-D sequence of numbers; returned as a tuple."""
    if class_weight is None:
        return None
    if isinstance(class_weight, torch.Tensor):
        class_weight = class_weight.detach().cpu().flatten().tolist()
    if isinstance(class_weight, (str, bytes)) or not isinstance(class_weight, Sequence):
        raise TypeError(f'{name} must be None or a sequence of numbers, got '
                        f'{type(class_weight).__name__}')
    for w in class_weight:
        if isinstance(w, bool) or not isinstance(w, numbers.Real):
            raise TypeError(f'{name} must hold numbers, got {w!r}')
    return tuple(float(w) for w in class_weight)


def class_weight_tensor(class_weight, num_classes: int, like: Tensor,
                        name: str = 'class_weight') -> Optional[Tensor]:
    """``class_weight`` as a ``(C,)`` tensor of ``like``'s dtype and device (numbers kept in
    double precision until cast to ``like``'s dtype)."""
    if class_weight is None:
        return None
    if isinstance(class_weight, torch.Tensor):
        cw = class_weight.to(dtype=like.dtype, device=like.device)
    else:
        cw = torch.tensor(class_weight, dtype=torch.float64).to(dtype=like.dtype,
                                                                device=like.device)
    if cw.dim() != 1 or cw.numel() != num_classes:
        raise ValueError(f'{name} must hold one weight per class ({num_classes}), got shape '
                         f'{tuple(cw.shape)}')
    return cw


# --------------------------------------------------------------------------------- values
def _in_range(x: Tensor, low, high) -> bool:
    """One reduction pass: every value of ``x`` in ``[low, high]``? (``True`` also where the
    data cannot be read; NaN makes it ``False``, so the caller looks closer.)"""
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()                 # older torch has no half aminmax on CPU
    bounds = _read(torch.stack(torch.aminmax(x)))
    return bounds is None or (low <= bounds[0] and bounds[1] <= high)


def _first_bad(x: Tensor, bad: Tensor):
    """The first value of ``x`` where ``bad`` holds, or ``None``."""
    first = _read(x[bad][:1])
    return first[0] if first else None


def check_labels(labels: Tensor, num_valid: int, ignore_index: Optional[int] = None,
                 name: str = 'target') -> None:
    """Labels must lie in ``[0, num_valid)`` or equal ``ignore_index``, else ``ValueError``
    (a value check: see the module docstring for when it runs)."""
    if not should_check_values(labels) or _in_range(labels, 0, num_valid - 1):
        return
    bad = (labels < 0) | (labels >= num_valid)
    if ignore_index is not None:
        bad &= labels != ignore_index
    value = _first_bad(labels, bad)
    if value is not None:
        ignore = '' if ignore_index is None else f' or equal ignore_index={ignore_index}'
        raise ValueError(f'{name} labels must lie in [0, {num_valid - 1}]{ignore}; got '
                         f'{value} ({name} of shape {tuple(labels.shape)})')


def check_probabilities(x: Tensor, ignore_index: Optional[int] = None,
                        name: str = 'target', bounds: Optional[Sequence[float]] = None) -> None:
    """Values must lie in ``[0, 1]`` (or equal ``ignore_index``), else ``ValueError``; NaN is
    let through (it propagates into the loss). A value check (see the module docstring).
    ``bounds``: ``(min, max)`` of ``x`` where the caller already has them (saves a pass)."""
    if not should_check_values(x):
        return
    x = x.detach()
    if bounds is not None:
        if 0 <= bounds[0] and bounds[1] <= 1:
            return
    elif _in_range(x, 0, 1):
        return
    bad = (x < 0) | (x > 1)
    if ignore_index is not None:
        bad &= x != ignore_index
    value = _first_bad(x, bad)
    if value is not None:
        raise ValueError(f'{name} values must lie in [0, 1] (probabilities); got {value} '
                         f'({name} of shape {tuple(x.shape)})')


def check_index_bounds(index: Tensor, low: int, high: int, name: str) -> None:
    """Integer ``index`` values must lie in ``[low, high)``, else ``ValueError``."""
    if not should_check_values(index) or _in_range(index, low, high - 1):
        return
    value = _first_bad(index, (index < low) | (index >= high))
    if value is not None:
        raise ValueError(f'{name} must lie in [{low}, {high - 1}], got {value} ({name} of '
                         f'shape {tuple(index.shape)})')
