"""Per-layer gradient norms (slide 22), the first/last-layer ratio (slide 23) and an
activation's derivative f′ by automatic differentiation (slides 23–27). ``_gradients`` is the
one place of the toolkit's diagnostics that depends on the backend."""

import fnmatch
import inspect
import math

import keras
import numpy as np
from keras import ops

from toolkit.errors import ToolkitError, check_choice

SUPPORTED_BACKENDS = ("tensorflow", "jax")
WEIGHT_CHOICES = ("all", "kernel")


# --------------------------------------------------------------------------- backend branch


def _gradients(fn, tensors):
    """Gradients of the scalar ``fn(tensors)`` w.r.t. each tensor of the list ``tensors``.

    The one place of the toolkit that depends on the backend: ``tf.GradientTape`` on
    TensorFlow, ``jax.grad`` on JAX. A tensor that does not reach ``fn`` gets zeros.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(t) for t in tensors]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            value = fn(tensors)
        grads = tape.gradient(value, tensors)
        return [tf.zeros_like(t) if g is None else g for g, t in zip(grads, tensors)]
    if backend == "jax":
        import jax

        return jax.grad(fn)([ops.convert_to_tensor(t) for t in tensors])
    raise ToolkitError(
        f"gradient diagnostics support the backends {', '.join(SUPPORTED_BACKENDS)}; received KERAS_BACKEND={backend!r}"
    )


# --------------------------------------------------------------------------- layers


def _leaf_layers(model, prefix=""):
    """(key, layer) in model order, descending into nested models; nested keys are
    ``"outer/inner"``."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer, f"{prefix}{layer.name}/")
        else:
            yield f"{prefix}{layer.name}", layer


def _is_kernel(variable):
    return variable.name.endswith("kernel")


def _weighted_layers(model, which, layer_names):
    """{key: [trainable variables]} of the layers that have some, in model order."""
    check_choice("weights", which, WEIGHT_CHOICES)
    layers = {}
    for key, layer in _leaf_layers(model):
        variables = [v for v in layer.trainable_weights if which == "all" or _is_kernel(v)]
        if variables:
            layers[key] = variables
    if layer_names is None:
        return layers
    if isinstance(layer_names, str):
        layer_names = [layer_names]
    chosen = {}
    for wanted in layer_names:
        matches = [k for k in layers if k == wanted or k.split("/")[-1] == wanted]
        if not matches:
            raise ToolkitError(
                f"layer {wanted!r} has no trainable {'kernel' if which == 'kernel' else 'weights'}"
                f" in model {model.name!r}; layers with some: {', '.join(layers)}"
            )
        for key in matches:
            chosen[key] = layers[key]
    return chosen


def _single_output(model, outputs):
    if isinstance(outputs, (list, tuple, dict)):
        raise ToolkitError(f"model {model.name!r} has several outputs; gradient norms need a single-output model")
    return outputs


def _loss_function(model, loss):
    if loss is None:
        loss = getattr(model, "loss", None)
        if loss is None:
            raise ToolkitError(
                f"no loss: pass loss= (e.g. 'sparse_categorical_crossentropy') or compile model {model.name!r} first"
            )
    try:
        return keras.losses.get(loss)
    except (TypeError, ValueError):
        raise ToolkitError(f"unknown loss {loss!r}; pass a Keras loss name, a Loss or a function") from None


# --------------------------------------------------------------------------- gradient norms


def layer_gradient_norms(model, x, y, loss=None, layer_names=None, weights="all", training=False):
    """The L2 norm of the loss gradient w.r.t. each layer's weights, for one batch (slide 22).

    For every layer with trainable weights, in model order, the norm of the gradient of all
    its trainable weights together, ``sqrt(|dL/dW|² + |dL/db|²)`` (``weights="all"``), or of
    its kernels only (``weights="kernel"``; layers without a kernel are then left out).
    Layers without trainable weights (activations, pooling, frozen layers) have no entry.
    Layers of a nested model are keyed ``"outer/inner"``.

    Args:
        model: a single-output Keras model (built).
        x, y: one batch; the norms are of the batch-mean loss.
        loss: a Keras loss name, ``Loss`` or function ``f(y_true, y_pred)``; ``None`` uses the
            model's compiled loss. Only this data loss counts, not regularisation losses.
        layer_names: restrict to these layers (names, or ``"outer/inner"`` keys).
        weights: ``"all"`` (kernel and bias together) or ``"kernel"``.
        training: the forward pass's mode. The default ``False`` is deterministic (dropout
            off, batch norm on its moving statistics, RReLU at its mean slope). No variable
            is changed in either mode.

    Returns:
        ``{layer_name: norm}`` as Python floats, in model order.

    Example:
        >>> import numpy as np, keras
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="out")])
        >>> model.set_weights([np.array([[1.0], [0.0]]), np.array([0.0])])
        >>> # mse on x=(1, 2), y=0: dL/dW = 2 * 1 * x = (2, 4), dL/db = 2 -> sqrt(24)
        >>> round(layer_gradient_norms(model, np.array([[1.0, 2.0]]), np.array([[0.0]]), loss="mse")["out"], 4)
        4.899
    """
    loss_fn = _loss_function(model, loss)
    layers = _weighted_layers(model, weights, layer_names)
    if not layers:
        raise ToolkitError(f"model {model.name!r} has no trainable weights to measure")
    variables = list(model.trainable_variables)
    index = {id(v): i for i, v in enumerate(variables)}
    trainable_values = [v.value for v in variables]
    non_trainable_values = [v.value for v in model.non_trainable_variables]
    x = ops.convert_to_tensor(x)
    y = ops.convert_to_tensor(y)

    def batch_loss(values):
        y_pred, _ = model.stateless_call(values, non_trainable_values, x, training=training)
        return ops.mean(loss_fn(y, _single_output(model, y_pred)))

    grads = _gradients(batch_loss, trainable_values)
    squares = [float(ops.convert_to_numpy(ops.sum(ops.square(ops.cast(g, "float32"))))) for g in grads]
    return {
        key: math.sqrt(sum(squares[index[id(v)]] for v in layer_variables)) for key, layer_variables in layers.items()
    }


def gradient_ratio(norms, exclude=("head", "act*", "*_act")):
    """First-layer norm / last-layer norm of :func:`layer_gradient_norms`' result.

    "First" and "last" are the first and last entries of ``norms`` (model order) after
    leaving out the layers whose name matches a pattern of ``exclude`` (``fnmatch`` style,
    matched on the last part of an ``"outer/inner"`` key). The default leaves out the output
    layer ``head`` and the activation layers (``act{k}``, ``enc1_act``: a PReLU's slopes are
    weights too), so for :func:`toolkit.mlp.build_mlp` the ratio is ``dense1 / dense{n}``,
    first over last *hidden* weight layer. A ratio far below 1 is the vanishing gradient of
    slide 23. A zero last norm gives ``inf`` (``nan`` if both are 0).

    Example:
        >>> gradient_ratio({"dense1": 1e-6, "act1": 0.3, "dense2": 1e-3, "act2": 0.1, "head": 0.5})
        0.001
    """
    if isinstance(exclude, str):
        exclude = (exclude,)
    kept = [
        (k, v)
        for k, v in norms.items()
        if not any(fnmatch.fnmatchcase(k.split("/")[-1], pattern) for pattern in exclude)
    ]
    if len(kept) < 2:
        raise ToolkitError(
            f"gradient_ratio needs at least two layers not matching {tuple(exclude)}; received {list(norms)}"
        )
    first, last = float(kept[0][1]), float(kept[-1][1])
    if last == 0.0:
        return math.nan if first == 0.0 else math.inf
    return first / last


def activation_derivative(spec, x, training=False):
    """f′(x) of the activation ``spec`` (any spec of :func:`toolkit.activations.get_activation`),
    elementwise, by automatic differentiation of the resolver's layer (slides 23–27).

    ``x`` may have any shape; the result has the same shape (float32). At a kink (ReLU at 0)
    the backend's choice is returned (0 for ReLU on TensorFlow and JAX). ``training=True``
    differentiates the training-mode layer (RReLU with freshly drawn slopes). Each element is
    fed as a one-channel sample, so a per-channel PReLU uses its one initial slope.

    Example:
        >>> import numpy as np
        >>> [round(float(d), 4) for d in activation_derivative("sigmoid", np.array([0.0, 2.0]))]
        [0.25, 0.105]
        >>> activation_derivative("tanh", np.array([0.0])).tolist()
        [1.0]
    """
    from toolkit.activations import activation_label, get_activation

    if activation_label(spec) == "softmax":
        raise ToolkitError("softmax is not an elementwise activation; it has no derivative curve")
    x = np.asarray(x, dtype="float32")
    column = x.reshape(-1, 1)
    layer = get_activation(spec)
    layer(column, training=False)  # build
    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]
    kwargs = {"training": training} if "training" in inspect.signature(layer.call).parameters else {}

    def total(values):
        out, _ = layer.stateless_call(trainable, non_trainable, values[0], **kwargs)
        return ops.sum(out)

    (grad,) = _gradients(total, [column])
    return np.asarray(ops.convert_to_numpy(grad), dtype="float32").reshape(x.shape)
