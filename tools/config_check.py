"""Check a training/test config before any work starts (used by tools/train.py and tools/test.py).

Every problem is reported with the config key that holds it and the bad value, e.g.::

    model.pts_bbox_head.loss_cls.type: unknown loss type 'bev_losses.FocalLos'
    model.pts_bbox_head.loss_bbox.loss_weight: expected a number, got str 'heavy'
    train_dataloader.dataset.data_root: folder 'data/nuscenes/' does not exist

Checks:

* every loss dict in ``cfg.model`` (a dict under a key starting with ``loss``) is built through
  the registry in a dry run: an unknown ``type``, an unknown argument, an argument whose type does
  not match the default's type (number / bool / string), or an error raised by the loss itself;
* the whole model is then built once (a clear message instead of a traceback deep in the Runner);
* each data set the run will read has an existing ``data_root`` and ``ann_file``, unless it
  generates itself (``auto_generate=True``, the synthetic data set).
"""
import inspect
import os.path as osp
from typing import Any, Iterator, List, Sequence, Tuple

from mmengine.config import Config, ConfigDict


class ConfigCheckError(ValueError):
    """A config problem found before training; ``str()`` lists every problem, one per line."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__('invalid config:\n  ' + '\n  '.join(self.problems))


def _iter_loss_dicts(node: Any, prefix: str) -> Iterator[Tuple[str, dict]]:
    """Yield ``(key path, loss dict)`` for every dict with a ``type`` under a ``loss*`` key."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f'{prefix}.{key}' if prefix else str(key)
            if (isinstance(key, str) and key.startswith('loss') and isinstance(value, dict)
                    and 'type' in value):
                yield path, value
            else:
                yield from _iter_loss_dicts(value, path)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _iter_loss_dicts(value, f'{prefix}.{i}')


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _argument_problems(path: str, cls: type, cfg: dict) -> List[str]:
    """Unknown arguments and arguments whose type differs from the default's type."""
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return []
    has_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    problems = []
    for name, value in cfg.items():
        if name == 'type':
            continue
        if name not in params:
            if not has_var_kw:
                problems.append(f'{path}.{name}: {cls.__name__} has no argument {name!r} '
                                f'(got {value!r})')
            continue
        default = params[name].default
        if default is inspect.Parameter.empty or default is None or value is None:
            continue
        if isinstance(default, bool):
            ok = isinstance(value, bool)
            want = 'a bool'
        elif _is_number(default):
            ok = _is_number(value)
            want = 'a number'
        elif isinstance(default, str):
            ok = isinstance(value, str)
            want = 'a string'
        else:
            continue
        if not ok:
            problems.append(f'{path}.{name}: expected {want}, got {type(value).__name__} '
                            f'{value!r}')
    return problems


def check_losses(cfg: Config) -> List[str]:
    """Build every loss dict of ``cfg.model`` in a dry run; return the problems found."""
    from mmengine.registry import DefaultScope

    from mmdet3d.registry import MODELS

    problems = []
    scope = cfg.get('default_scope', 'mmdet3d') or 'mmdet3d'
    with DefaultScope.overwrite_default_scope(scope):
        for path, loss_cfg in _iter_loss_dicts(cfg.get('model', {}), 'model'):
            loss_type = loss_cfg['type']
            if not isinstance(loss_type, str):
                if isinstance(loss_type, type):
                    problems += _argument_problems(path, loss_type, loss_cfg)
                continue
            try:
                cls = MODELS.get(loss_type)
            except Exception as exc:  # an unknown scope prefix raises in some versions
                cls = None
                detail = f' ({exc})'
            else:
                detail = ''
            if cls is None:
                problems.append(f'{path}.type: unknown loss type {loss_type!r}{detail}; '
                                f'registered bev_losses losses: {", ".join(_bev_loss_names())}')
                continue
            arg_problems = _argument_problems(path, cls, loss_cfg)
            if arg_problems:
                problems += arg_problems
                continue
            try:
                MODELS.build(ConfigDict(loss_cfg))
            except Exception as exc:
                problems.append(f'{path}: {loss_type} rejected its arguments '
                                f'{_short_dict(loss_cfg)}: {type(exc).__name__}: {exc}')
    return problems


def _bev_loss_names() -> List[str]:
    import bev_losses.losses  # noqa: F401  (registers the losses)
    from bev_losses.registry import MODELS as BEV_MODELS
    return sorted(f'bev_losses.{n}' for n in BEV_MODELS.module_dict if n.endswith('Loss'))


def _short_dict(d: dict) -> str:
    return '{' + ', '.join(f'{k}={v!r}' for k, v in d.items()) + '}'


def check_model_builds(cfg: Config) -> List[str]:
    """Build ``cfg.model`` once (after the loss checks passed); return the problem, if any."""
    from mmengine.registry import DefaultScope

    from mmdet3d.registry import MODELS

    scope = cfg.get('default_scope', 'mmdet3d') or 'mmdet3d'
    try:
        with DefaultScope.overwrite_default_scope(scope):
            MODELS.build(cfg.model)
    except Exception as exc:
        return [f'model: cannot be built: {type(exc).__name__}: {exc}']
    return []


def _iter_datasets(node: Any, path: str) -> Iterator[Tuple[str, dict]]:
    """Yield every dataset dict, following wrappers (``dataset`` / ``datasets`` keys)."""
    if not isinstance(node, dict):
        return
    yield path, node
    if isinstance(node.get('dataset'), dict):
        yield from _iter_datasets(node['dataset'], f'{path}.dataset')
    if isinstance(node.get('datasets'), (list, tuple)):
        for i, sub in enumerate(node['datasets']):
            yield from _iter_datasets(sub, f'{path}.datasets.{i}')


def check_data(cfg: Config, loaders: Sequence[str]) -> List[str]:
    """Each data set of ``loaders`` (e.g. ``('train_dataloader', 'val_dataloader')``) exists.

    A data set with ``auto_generate=True`` makes its own files and is skipped.
    """
    problems = []
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not isinstance(loader_cfg, dict) or not isinstance(loader_cfg.get('dataset'), dict):
            continue
        for path, ds in _iter_datasets(loader_cfg['dataset'], f'{loader}.dataset'):
            if ds.get('auto_generate', False) is True:
                continue
            data_root = ds.get('data_root')
            if data_root is not None:
                if not isinstance(data_root, str):
                    problems.append(f'{path}.data_root: expected a folder path, got '
                                    f'{type(data_root).__name__} {data_root!r}')
                    continue
                if data_root and not osp.isdir(data_root):
                    problems.append(f'{path}.data_root: folder {data_root!r} does not exist '
                                    f'(absolute: {osp.abspath(data_root)!r})')
                    continue
            ann_file = ds.get('ann_file')
            if isinstance(ann_file, str) and ann_file:
                full = ann_file if (osp.isabs(ann_file) or not data_root) else osp.join(
                    data_root, ann_file)
                if not osp.isfile(full):
                    problems.append(f'{path}.ann_file: file {ann_file!r} not found (looked '
                                    f'for {full!r})')
    return problems


def check_config(cfg: Config, loaders: Sequence[str] = ('train_dataloader', 'val_dataloader'),
                 build_model: bool = True) -> None:
    """Run every check; raise :class:`ConfigCheckError` listing all problems found."""
    if cfg.get('custom_imports'):
        from mmengine.utils import import_modules_from_strings
        import_modules_from_strings(**cfg.custom_imports)
    problems = check_losses(cfg)
    problems += check_data(cfg, loaders)
    if build_model and not problems:
        problems += check_model_builds(cfg)
    if problems:
        raise ConfigCheckError(problems)
