"""A generic deep multilayer perceptron (slides 21–23: the network whose gradient vanishes).

``build_mlp`` is the fully connected baseline of the toolkit: the vanishing-gradient
experiment sweeps its ``activation`` over strings, and the MLP-vs-CNN comparison uses it as
the network without convolutions. Layers are named so diagnostics find them by name:
``rescale``, ``flatten``, ``dense1``/``act1`` ... ``dense{n}``/``act{n}``, ``head``.
"""

import keras

from toolkit.activations import get_activation
from toolkit.errors import ToolkitError, check_int, check_number, check_positive_ints


def _check_shape(input_shape):
    return check_positive_ints("input_shape", input_shape, kind="tuple", hint=" (no batch axis)")


def _check_units(hidden_units):
    return check_positive_ints("hidden_units", hidden_units, scalar=False)


def build_mlp(
    input_shape,
    hidden_units=(256,) * 10,
    activation="sigmoid",
    num_classes=10,
    input_scale=1 / 255,
    kernel_initializer="glorot_uniform",
    name="mlp",
):
    """A deep MLP classifier: ``len(hidden_units)`` Dense + activation layers and a softmax head.

    The default — ten hidden layers of 256 sigmoid units, Glorot-uniform weights — is the
    deep sigmoid network of slide 23 whose early layers barely learn; pass
    ``activation="relu"`` (or ``"tanh"``, ``"leaky_relu"``, ``"prelu"``, ``"rrelu"``, any spec of
    :func:`toolkit.activations.get_activation`) to see the remedy of slides 24–27.

    Args:
        input_shape: one sample's shape, e.g. ``(28, 28, 1)``; inputs of rank > 1 are flattened
            (slide 46).
        hidden_units: the width of each hidden layer, first to last.
        activation: the hidden layers' activation spec (the same for every layer; a layer
            instance is copied per layer).
        num_classes: the softmax head's width (>= 2), or ``None`` for no head (the output is
            then the last hidden activation).
        input_scale: a factor applied to the inputs first (``1/255`` maps uint8 pixels to
            [0, 1]), or ``None`` for none.
        kernel_initializer: any Keras initializer spec, for the hidden and head kernels.
        name: the model's name.

    Example:
        >>> model = build_mlp((28, 28, 1), hidden_units=(32, 16), activation="relu")
        >>> [layer.name for layer in model.layers][1:]
        ['rescale', 'flatten', 'dense1', 'act1', 'dense2', 'act2', 'head']
        >>> model.output_shape
        (None, 10)
    """
    shape = _check_shape(input_shape)
    units = _check_units(hidden_units)
    num_classes = check_int("num_classes", num_classes, low=2, optional=True, expected="an int >= 2 or None (no head)")
    input_scale = check_number("input_scale", input_scale, low=0, low_open=True, optional=True)
    try:
        keras.initializers.get(kernel_initializer)
    except (TypeError, ValueError):
        raise ToolkitError(
            f"unknown kernel_initializer {kernel_initializer!r}; pass a Keras initializer "
            f"name such as 'glorot_uniform' or 'he_normal'"
        ) from None
    if not isinstance(name, str) or not name:
        raise ToolkitError(f"name must be a non-empty string; received {name!r}")

    # Resolve every activation before building anything: a bad spec fails first.
    activations = [get_activation(activation, name=f"act{k}") for k in range(1, len(units) + 1)]

    inputs = keras.Input(shape, name="input")
    x = inputs
    if input_scale is not None:
        x = keras.layers.Rescaling(input_scale, name="rescale")(x)
    if len(shape) > 1:
        x = keras.layers.Flatten(name="flatten")(x)
    for k, (width, act) in enumerate(zip(units, activations), start=1):
        x = keras.layers.Dense(width, kernel_initializer=kernel_initializer, name=f"dense{k}")(x)
        x = act(x)
    if num_classes is not None:
        x = keras.layers.Dense(num_classes, activation="softmax", kernel_initializer=kernel_initializer, name="head")(x)
    return keras.Model(inputs, x, name=name)
