"""Memory estimates: refuse a run that will not fit before it starts, with the numbers.

The estimates are deliberately simple and on the generous side:

- data: the uint8 images as loaded plus one float32 copy of them (the experiments scale
  pixels to float32 before training: N x D x 4 bytes);
- model: parameters x 4 copies (weights, gradients, two Adam slots) x 4 bytes;
- activations: every layer's output for one batch, kept for the backward pass and its
  gradient (x 2), in float32.

Before anything is built, :func:`check_config_memory` compares one estimate for building
*and* training a config — its data (:func:`estimate_data_memory`) plus its models, which
the experiment declares with an optional ``estimate(config) -> bytes`` hook (usually one
line of :func:`dense_stack_bytes`) — with the memory available, so a layer width of a
million is refused in milliseconds instead of after gigabytes have been allocated.

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


def _split_sizes(config, default_dataset="mnist"):
    from toolkit.data import dataset_info

    info = dataset_info(config.get("dataset") or default_dataset)
    sizes = []
    for key, full in (("limit", info.train_size), ("test_limit", info.test_size)):
        n = config.get(key)
        # 'shapes' is generated: a limit beyond its nominal size makes that many images
        sizes.append(n if n and (info.name == "shapes" or n < full) else full)
    return info, sizes


def image_pixels(config, default_dataset="mnist"):
    """Values per image of ``config``'s dataset (784 for MNIST): a dense model's input width."""
    info, _ = _split_sizes(config, default_dataset)
    return math.prod(info.image_shape)


def train_images(config, default_dataset="mnist"):
    """Training images ``config`` loads (its ``limit``, else the whole training split)."""
    return _split_sizes(config, default_dataset)[1][0]


def estimate_data_memory(config, default_dataset="mnist"):
    """Bytes for the dataset of ``config`` (``dataset``, ``limit``, ``test_limit``): the uint8
    arrays plus one float32 copy. Unknown dataset names raise ``ToolkitError``."""
    info, sizes = _split_sizes(config, default_dataset)
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
    if n >= 1024 * GB:
        return f"{n / (1024 * GB):,.1f} TB"
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


def dense_stack_bytes(widths, batch_size, optimizer_slots=2, copies=1):
    """Bytes to build and train ``copies`` dense stacks ``widths[0] → widths[1] → …`` (the
    input's width first, every layer's width after it, output last) with ``batch_size``:
    each parameter held as weight, gradient and ``optimizer_slots`` optimizer slots (Adam:
    2), float32; every layer's output for one batch, twice for a separate activation layer
    and twice again for the gradients of the backward pass. Plain integers: a width of
    10**9 costs nothing to estimate.

    Example:
        >>> dense_stack_bytes([784, 1000, 784], 128) // 2**20  # a 784-1000-784 autoencoder, Adam
        27
    """
    widths = [int(w) for w in widths]
    params = sum(a * b + b for a, b in zip(widths, widths[1:]))
    outputs = widths[0] + 4 * sum(widths[1:])
    return int(copies) * (params * (2 + int(optimizer_slots)) + outputs * int(batch_size)) * _FLOAT


def estimate_config_memory(experiment, config):
    """Bytes to build and train ``config`` of ``experiment``: the data
    (:func:`estimate_data_memory`) plus the models, as the experiment's optional
    ``estimate(config)`` hook declares them (nothing when it declares none)."""
    return sum(_config_memory_parts(experiment, config).values())


def _config_memory_parts(experiment, config):
    default = experiment.datasets[0] if getattr(experiment, "datasets", None) else "mnist"
    parts = {"data": estimate_data_memory(config, default)}
    hook = getattr(experiment, "estimate", None)
    if callable(hook):
        parts["models"] = max(0, int(hook(config)))
    return parts


def check_config_memory(experiment, config):
    """Refuse ``config`` before anything is loaded or built when building and training it
    (:func:`estimate_config_memory`) will not fit in the memory available; return the estimate."""
    parts = _config_memory_parts(experiment, config)
    need = sum(parts.values())
    free = available_memory()
    if need > free and "models" not in parts:
        raise RunError(
            f"{experiment.name}: the data needs ~{_gb(need)} and {_gb(free)} is available; "
            "lower limit/test_limit (--set limit=N) or free memory"
        )
    if need > free:
        raise RunError(
            f"{experiment.name}: building and training this config needs ~{_gb(need)} (models "
            f"~{_gb(parts['models'])}, data ~{_gb(parts['data'])}) and {_gb(free)} is available; lower the "
            "layer sizes, batch_size or limit/test_limit (--set key=value) or free memory"
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
