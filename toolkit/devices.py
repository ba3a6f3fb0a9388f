"""Devices, precision, determinism and the steps per compiled call: the backend-specific
set-up of a run (data parallelism: :mod:`toolkit.parallel`).

With :mod:`toolkit.diagnostics` (per-layer gradients), :mod:`toolkit.parallel` and
:mod:`toolkit.data.pipeline` this is the only code that asks which backend Keras runs on.
"""

import os

from toolkit.errors import RunError, check_choice


def backend_name():
    import keras

    return keras.backend.backend()


def accelerators():
    """Names of the GPUs the current backend sees."""
    backend = backend_name()
    if backend == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform == "gpu"]
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices("GPU")]
    if backend == "torch":
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return []


def require_device(device):
    """``cpu`` or ``gpu``; ``gpu`` with no GPU visible fails at once, never a silent CPU run."""
    check_choice("device", device, ("cpu", "gpu"))
    if device == "gpu":
        found = accelerators()
        if not found:
            raise RunError(
                f"--device gpu: the {backend_name()} backend sees no GPU; "
                "run on a machine with one (BACKEND=jax on the GPU machines) or use --device cpu"
            )
        return found
    return []


def set_precision(mixed, device):
    """``mixed_bfloat16`` on request on a GPU; float32 otherwise."""
    import keras

    if mixed and device != "gpu":
        raise RunError("mixed_precision=true needs --device gpu (on CPU it is slower and less accurate)")
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if mixed else "float32")


def make_deterministic(seed):
    """Seed Python, NumPy and the backend; TensorFlow op determinism on."""
    import keras

    keras.utils.set_random_seed(int(seed))
    if backend_name() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        tf.get_logger().setLevel("ERROR")  # retracing notices are not the user's business


def setup_data_parallel(devices):
    """``devices="all"``: data-parallel training over every local device (see
    :func:`toolkit.parallel.setup`). Returns the device list used, or [] for one device."""
    from toolkit import parallel

    return parallel.setup(devices).devices


# Training steps per compiled call (``model.compile(steps_per_execution=...)``). Keras's
# per-step cost (callbacks, the Python loop, one function call: ~6 ms on the 2-core CPUs of
# benchmarks/RESULTS.md) is paid once per call instead of once per step; the arithmetic of
# each step is unchanged (same batches, same order, same seed-generator updates), so the
# results are the same. Measured in benchmarks/RESULTS.md ("No per-step tax").
STEPS_PER_EXECUTION = 32

_BATCH_HOOKS = (
    "on_batch_begin",
    "on_batch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_batch_begin",
    "on_test_batch_end",
)


def hears_batches(callback):
    """Whether ``callback`` (not one of Keras's own) overrides a per-batch hook: with several
    steps per call Keras calls those hooks once per call, not once per batch."""
    import keras

    cls = type(callback)
    if cls.__module__.startswith("keras."):
        return False  # Keras's callbacks (TensorBoard, ...) know about steps_per_execution
    return any(getattr(cls, hook, None) is not getattr(keras.callbacks.Callback, hook) for hook in _BATCH_HOOKS)


def steps_per_execution(callbacks=()):
    """The ``steps_per_execution`` for a ``fit`` with ``callbacks``: :data:`STEPS_PER_EXECUTION`,
    or 1 when a callback listens to single batches (it then hears every batch, as before) or
    the backend is not TensorFlow or JAX (torch does not support it), or a TensorFlow
    strategy trains (Keras 3.15's multi-step loop fails under one: "You must feed a value for
    placeholder tensor", benchmarks/RESULTS.md)."""
    from toolkit import parallel

    if backend_name() not in ("tensorflow", "jax") or any(hears_batches(cb) for cb in callbacks):
        return 1
    if parallel.current().strategy is not None:
        return 1
    return STEPS_PER_EXECUTION


def use_steps_per_execution(model, steps):
    """Set a compiled ``model``'s ``steps_per_execution`` to ``steps``; its compiled functions
    are dropped only when the value changes (they are traced for one value)."""
    steps = int(steps)
    if getattr(model, "steps_per_execution", 1) != steps:
        model.steps_per_execution = steps
        model.train_function = model.test_function = model.predict_function = None
    return steps


def build_before_fit(model, x=None, y=None):
    """Build a compiled ``model``'s optimizer — and, given ``x`` (and ``y``) as NumPy arrays,
    its compiled metrics and loss — before ``fit``, on TensorFlow without a strategy;
    returns False where it leaves that to Keras.

    Keras 3.15 defers those builds, there, to the first trace of the train step, whose new
    variables (Adam's moments, the metrics' totals) then make ``tf.function`` trace the step
    a second time: one more trace in every fit's first epoch (0.2–0.6 s of a greedy stage,
    1.6–1.9 s of CPU for the 784-1000-500-250-30 stack's end-to-end fit, on these CPUs:
    benchmarks/RESULTS.md). Built here — the metrics and loss through Keras's own symbolic
    build (``Trainer._symbolic_build``, what its ``fit`` runs under a strategy and on the other
    backends), on one row's shapes — the variables are the same zeros and the step is traced
    once. Under a strategy Keras builds them itself in the strategy's scope; on the other
    backends its ``fit`` builds them before tracing."""
    import numpy as np

    from toolkit import parallel

    optimizer = getattr(model, "optimizer", None)
    if backend_name() != "tensorflow" or optimizer is None or parallel.current().strategy is not None:
        return False
    if not model.built or not model.trainable_variables:
        return False
    arrays = isinstance(x, np.ndarray) and len(x) and (y is None or isinstance(y, np.ndarray))
    if arrays and hasattr(model, "_symbolic_build"):
        model._symbolic_build(data_batch=(x[:1], None if y is None else y[:1], None))
        return True
    if optimizer.built:
        return False
    optimizer.build(model.trainable_variables)
    return True


def check_data_parallel_batches(num_samples, batch_size):
    """See :func:`toolkit.parallel.check_batches`."""
    from toolkit import parallel

    parallel.check_batches(num_samples, batch_size)


def environment(seed, device):
    """Versions, backend, device and seed for ``env.json``."""
    import platform
    import subprocess
    import sys

    import keras
    import numpy as np

    env = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "keras": keras.__version__,
        "numpy": np.__version__,
        "backend": backend_name(),
        "device": device,
        "accelerators": accelerators(),
        "seed": seed,
        "cpu_count": os.cpu_count(),
        "precision": keras.mixed_precision.global_policy().name,
    }
    try:
        import tensorflow as tf

        env["tensorflow"] = tf.__version__
    except ImportError:
        pass
    if env["backend"] == "jax":
        import jax

        env["jax"] = jax.__version__
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        env["git_commit"] = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
            ).stdout.strip()
            or None
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=here, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        env["git_dirty"] = bool(dirty)
    except (OSError, subprocess.SubprocessError):
        env["git_commit"] = None
    return env
