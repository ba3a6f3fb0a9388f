"""Vanishing-gradient diagnostics: per-layer gradient norms and activation statistics
(slides 21–27).

Backprop multiplies the error signal δ by the weights and by the activation's derivative f′
at every layer (slide 22); the sigmoid's f′ is at most 0.25 (slide 23), so δ — and with it
the gradient of the early layers' weights — shrinks layer after layer, while tanh
(f′ ≤ 1, slide 24) and the ReLU family (f′ = 1 for positive inputs, slides 25–27) keep it.
This module measures that:

- :func:`layer_gradient_norms`: the L2 norm of the loss gradient w.r.t. each layer's weights;
- :func:`gradient_ratio`: first-hidden-layer norm / last-hidden-layer norm, one number per
  network (≪ 1 means the gradient vanishes on its way to the input);
- :func:`activation_stats`: per activation layer, the mean output and the fraction of
  saturated (sigmoid, tanh) or dead (ReLU family) units;
- :func:`activation_derivative`: f′ of any activation spec by automatic differentiation;
- :class:`GradientNormLogger` and :class:`ActivationStatsLogger`: Keras callbacks that record
  these at initialisation (epoch 0) and after every epoch, to JSON lines and in memory.

This is the only module of the toolkit that branches on ``keras.backend.backend()``
(:func:`_gradients`); TensorFlow and JAX are supported. Every measurement is a pure
function of the model's current weights: it runs the model through ``stateless_call`` and
never changes a variable (batch-norm statistics, RReLU's seed state stay as they were).
"""

import fnmatch
import inspect
import json
import math
import os

import keras
import numpy as np
from keras import ops

from toolkit.errors import ToolkitError, check_choice, check_int

SUPPORTED_BACKENDS = ("tensorflow", "jax")
WEIGHT_CHOICES = ("all", "kernel")

# Saturation thresholds, on the layer's *output* (see activation_stats).
SIGMOID_SATURATION = 0.05  # output < 0.05 or > 0.95  =>  f' = y(1 - y) < 0.0475 (peak 0.25)
TANH_SATURATION = 0.95  # |output| > 0.95            =>  f' = 1 - y**2 < 0.0975 (peak 1)

_SIGMOID_NAMES = ("sigmoid", "hard_sigmoid")
_TANH_NAMES = ("tanh", "softsign")
_RELU_NAMES = (
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "celu",
    "gelu",
    "silu",
    "swish",
    "mish",
    "hard_silu",
    "hard_swish",
    "softplus",
)


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


# --------------------------------------------------------------------------- activations


def activation_kind(layer):
    """``"sigmoid"``, ``"tanh"``, ``"relu"`` (the ReLU family) or ``"other"`` for an
    activation layer, or ``None`` for a layer whose output is not an activation's."""
    from toolkit.layers import PReLU, RReLU

    if isinstance(
        layer, (RReLU, PReLU, keras.layers.PReLU, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU)
    ):
        return "relu"
    if isinstance(layer, keras.layers.Softmax):
        return None
    function = getattr(layer, "activation", None)
    if function is None or not callable(function):
        return None
    name = getattr(function, "__name__", "")
    if name in _SIGMOID_NAMES:
        return "sigmoid"
    if name in _TANH_NAMES:
        return "tanh"
    if name in _RELU_NAMES:
        return "relu"
    if name in ("linear", "softmax", "log_softmax", ""):
        return None
    return "other"


def activation_stats(model, x, layer_names=None):
    """Mean output and saturated / dead fractions of every activation layer, on a probe batch.

    Activation layers are the top-level layers whose output is an activation's: the toolkit's
    ``act`` layers (``Activation``, ``LeakyReLU``, ``PReLU``, ``RReLU``, ...) and layers such as
    ``Dense`` with a built-in non-linear activation (linear and softmax outputs are skipped).
    For each, with ``out`` its output on ``x`` (inference mode):

    - ``mean``: the mean of ``out`` over the batch and all units;
    - ``saturated`` (sigmoid and tanh only): the fraction of all output values in the flat
      tails, where f′ is below a fifth of its peak and the layer passes almost no gradient
      back (slide 23): sigmoid ``out < 0.05`` or ``out > 0.95`` (f′ < 0.0475), tanh
      ``|out| > 0.95`` (f′ < 0.0975);
    - ``dead`` (ReLU family only): the fraction of units that output ``<= 0`` for *every*
      sample of the batch. A unit is a channel: the last axis, pooled over the batch and any
      spatial positions. For ReLU such a unit passes no gradient at all; for leaky ReLU,
      PReLU and RReLU it is only on the small negative slope;
    - ``kind``: ``"sigmoid"``, ``"tanh"``, ``"relu"`` or ``"other"`` (``mean`` only).

    Returns:
        ``{layer_name: {"kind": ..., "mean": ..., "saturated" | "dead": ...}}`` in model order.
    """
    layers = [layer for layer in model.layers if activation_kind(layer) is not None]
    if layer_names is not None:
        if isinstance(layer_names, str):
            layer_names = [layer_names]
        by_name = {layer.name: layer for layer in layers}
        for wanted in layer_names:
            check_choice("activation layer", wanted, tuple(by_name))
        layers = [by_name[n] for n in layer_names]
    if not layers:
        return {}
    probe = keras.Model(model.inputs, [layer.output for layer in layers], name=f"{model.name}_probe")
    outputs = probe(ops.convert_to_tensor(x), training=False)
    if not isinstance(outputs, (list, tuple)):  # Keras unwraps a one-output list
        outputs = [outputs]
    stats = {}
    for layer, out in zip(layers, outputs):
        out = np.asarray(ops.convert_to_numpy(out), dtype=np.float64)
        kind = activation_kind(layer)
        entry = {"kind": kind, "mean": float(out.mean())}
        if kind == "sigmoid":
            entry["saturated"] = float(np.mean((out < SIGMOID_SATURATION) | (out > 1.0 - SIGMOID_SATURATION)))
        elif kind == "tanh":
            entry["saturated"] = float(np.mean(np.abs(out) > TANH_SATURATION))
        elif kind == "relu":
            per_channel = out.reshape(-1, out.shape[-1])
            entry["dead"] = float(np.mean(np.all(per_channel <= 0.0, axis=0)))
        stats[layer.name] = entry
    return stats


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


# --------------------------------------------------------------------------- callbacks


class _EpochRecorder(keras.callbacks.Callback):
    """Records ``self._measure()`` at train begin (epoch 0) and every ``every`` epochs, in
    memory (``records``) and as JSON lines at ``path``."""

    def __init__(self, path=None, every="epoch"):
        super().__init__()
        every = (
            1 if every == "epoch" else check_int("every", every, low=1, expected="'epoch' or a positive int (epochs)")
        )
        self.path = None if path is None else os.fspath(path)
        self.every = every
        self.records = []
        self._started_file = False

    def _measure(self):
        raise NotImplementedError

    def _record(self, epoch):
        record = {"epoch": int(epoch), **self._measure()}
        self.records.append(record)
        if self.path is not None:
            folder = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(folder, exist_ok=True)
            with open(self.path, "a" if self._started_file else "w", encoding="utf-8") as fh:
                fh.write(json.dumps(record, sort_keys=False) + "\n")
            self._started_file = True

    def get_state(self):
        """The records, JSON-able: a run saves them with each checkpoint (``--resume``)."""
        return {"records": self.records}

    def set_state(self, state):
        """Restore what :meth:`get_state` returned (a resumed run's earlier epochs)."""
        self.records = list(state["records"])

    def on_train_begin(self, logs=None):
        if not self.records:  # initialisation, once; a second fit() continues the log
            self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self._record(epoch + 1)


class GradientNormLogger(_EpochRecorder):
    """Records :func:`layer_gradient_norms` on a fixed probe batch during training.

    A record is made at the start of training (epoch 0: the network at initialisation) and
    after every ``every``-th epoch: ``{"epoch": e, "norms": {layer: norm}, "ratio": r}``,
    where ``r`` is :func:`gradient_ratio` (``null`` with fewer than two hidden layers). The
    records are kept in ``records`` and, when ``path`` is given, written as JSON lines there
    (the file is rewritten by the first record). To draw them (one line per recorded epoch),
    pass :meth:`norms_by_epoch` to :func:`toolkit.plots.activations.plot_gradient_norms`:
    this module measures and imports nothing from :mod:`toolkit.plots` (no import cycle).

    Args:
        x, y: the probe batch (keep it small: a few hundred samples).
        path: the ``.jsonl`` file, e.g. ``run_dir/gradient_norms.jsonl``; or ``None``.
        loss, weights, training: as in :func:`layer_gradient_norms` (``loss=None``: the
            compiled loss).
        every: ``"epoch"`` or a number of epochs.
    """

    def __init__(self, x, y, path=None, every="epoch", loss=None, weights="all", training=False):
        super().__init__(path, every)
        check_choice("weights", weights, WEIGHT_CHOICES)
        self.x, self.y = x, y
        self.loss = loss
        self.weights_choice = weights
        self.training = training

    def _measure(self):
        norms = layer_gradient_norms(
            self.model, self.x, self.y, loss=self.loss, weights=self.weights_choice, training=self.training
        )
        try:
            ratio = gradient_ratio(norms)
        except ToolkitError:
            ratio = None
        return {"norms": norms, "ratio": ratio}

    def norms_by_epoch(self):
        """``{"epoch 0": norms, "epoch 1": norms, ...}``, ready for ``plot_gradient_norms``."""
        return {f"epoch {r['epoch']}": r["norms"] for r in self.records}


class ActivationStatsLogger(_EpochRecorder):
    """Records :func:`activation_stats` on a fixed probe batch during training.

    Records ``{"epoch": e, "layers": {layer: {"kind", "mean", "saturated" | "dead"}}}`` at the
    start of training (epoch 0) and after every ``every``-th epoch, in ``records`` and as JSON
    lines at ``path`` (when given).
    """

    def __init__(self, x, path=None, every="epoch", layer_names=None):
        super().__init__(path, every)
        self.x = x
        self.layer_names = layer_names

    def _measure(self):
        return {"layers": activation_stats(self.model, self.x, layer_names=self.layer_names)}


def read_jsonl(path):
    """The records of a JSON-lines file written by the loggers above."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
