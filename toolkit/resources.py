"""Memory estimates: refuse a run that will not fit before it starts, with the numbers.

The estimates are deliberately simple and on the generous side:

- data: the uint8 images as loaded plus one float32 copy of them (the experiments scale
  pixels to float32 before training: N x D x 4 bytes);
- model: parameters x 4 copies (weights, gradients, two Adam slots) x 4 bytes;
- activations: every layer's output for one batch, kept for the backward pass and its
  gradient (x 2), in float32.

They are compared with the memory available now (``psutil``, or the cgroup limit of a
container when that is lower). A refusal is a :class:`~toolkit.errors.RunError` naming the
estimate, what is available and what to lower.
"""

import math

from toolkit.errors import RunError

GB = 1024**3
_COPIES_PER_PARAM = 4  # weights, gradients, Adam's two moments
_FLOAT = 4


def available_memory():
    """Bytes of memory this process can still use (the lower of the machine's and the cgroup's)."""
    import psutil

    free = psutil.virtual_memory().available
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            limit = fh.read().strip()
        if limit != "max":
            with open("/sys/fs/cgroup/memory.current") as fh:
                used = int(fh.read().strip())
            free = min(free, max(0, int(limit) - used))
    except (OSError, ValueError):
        pass
    return free


def estimate_data_memory(config, default_dataset="mnist"):
    """Bytes for the dataset of ``config`` (``dataset``, ``limit``, ``test_limit``): the uint8
    arrays plus one float32 copy. Unknown dataset names raise ``ToolkitError``."""
    from toolkit.data import dataset_info

    info = dataset_info(config.get("dataset") or default_dataset)
    sizes = []
    for key, full in (("limit", info.train_size), ("test_limit", info.test_size)):
        n = config.get(key)
        # 'shapes' is generated: a limit beyond its nominal size makes that many images
        sizes.append(n if n and (info.name == "shapes" or n < full) else full)
    pixels = sum(sizes) * math.prod(info.image_shape)
    return pixels * (1 + _FLOAT)


def estimate_model_memory(model, batch_size):
    """Bytes for training ``model`` with ``batch_size``: parameters x 4 copies, plus every
    layer's output for one batch, twice (forward values and their gradients)."""
    params = model.count_params() if model.built else 0
    outputs = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        try:
            shapes = [t.shape for t in _as_list(layer.output)]
        except (AttributeError, ValueError, RuntimeError):
            continue  # unbuilt, shared or subclassed layers: no static output to count
        for shape in shapes:
            dims = [d for d in shape[1:] if d is not None]
            outputs += math.prod(dims) if dims else 1
    return params * _COPIES_PER_PARAM * _FLOAT + outputs * batch_size * _FLOAT * 2


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _nbytes(value):
    if value is None:
        return 0
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    return int(getattr(value, "nbytes", 0) or 0)


def _gb(n):
    return f"{n / GB:.2f} GB" if n >= GB else f"{n / 1024**2:.1f} MB"


def check_run_memory(experiment, config):
    """Refuse ``config`` up front when its data alone will not fit; return the estimate."""
    default = experiment.datasets[0] if getattr(experiment, "datasets", None) else "mnist"
    need = estimate_data_memory(config, default)
    free = available_memory()
    if need > free:
        raise RunError(
            f"{experiment.name}: the data needs ~{_gb(need)} and {_gb(free)} is available; "
            "lower limit/test_limit (--set limit=N) or free memory"
        )
    return need


def check_fit_memory(model, x, batch_size, label="model"):
    """Refuse a fit whose model, batch activations and (already loaded) inputs will not fit.

    ``x`` is in memory already, so it only counts towards the total reported; the check is
    that the training state (model and activations) fits in what is left.
    """
    need = estimate_model_memory(model, batch_size)
    free = available_memory()
    if need > free:
        raise RunError(
            f"[{label}] training needs ~{_gb(need)} (model {model.count_params():,} parameters, "
            f"batch {batch_size}; inputs {_gb(_nbytes(x))} already loaded) and {_gb(free)} is "
            "available; lower batch_size or the model's size"
        )
    return need
