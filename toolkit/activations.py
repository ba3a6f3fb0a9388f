"""One resolver for every activation, by name (slides 21–27).

Every builder of the toolkit takes its activations as a *spec* and turns it into a layer
here, so an activation sweep is a loop over strings. A spec is one of:

- a name: ``"sigmoid"`` (slide 23), ``"tanh"`` (slide 24), ``"relu"`` (slides 25–26),
  ``"leaky_relu"`` (fixed negative slope, 0.2 unless given), ``"prelu"`` (learned slope, one
  per channel by default, starting at 0.25) and ``"rrelu"`` (random slope in training) of
  slide 27, or any of Keras's own (``"elu"``, ``"gelu"``, ``"selu"``, ``"swish"``, ...);

Defaults that depart from the lecture or from Keras, and why:

- ``"leaky_relu"``'s slope is **0.2**: Keras's ``LeakyReLU`` defaults to 0.3 and the original
  paper (Maas et al. 2013) used 0.01; 0.2 is the value of the later literature (e.g. DCGAN),
  large enough that a deep stack does not behave like plain ReLU in the vanishing-gradient
  experiment, and inside the range RReLU draws from (1/8 … 1/3);
- ``"prelu"`` learns the slope of the **negative** range (He et al. 2015), where slide 27
  speaks of the positive range (see :class:`toolkit.layers.PReLU`), and starts it at 0.25,
  not Keras's 0;
- ``"rrelu"`` uses the **mean of its range** as the inference slope, as PyTorch does; Xu et
  al. (2015) give another rule (see :class:`toolkit.layers.RReLU`);
- a dict ``{"name": "leaky_relu", "negative_slope": 0.1}`` (extra keys go to the layer:
  ``negative_slope`` for leaky_relu, ``per_channel``/``alpha_initializer`` for prelu,
  ``lower``/``upper``/``seed`` for rrelu);
- a Keras layer instance: a fresh copy is made from its config (new weights, the requested
  name), so one instance can serve as the template of every layer of a deep network.

Unknown names raise ``ToolkitError`` (a ``ValueError``) listing the valid ones.
"""

import keras

from toolkit.errors import ToolkitError, check_choice
from toolkit.layers import PReLU, RReLU

# The lecture's own family first (slides 23–27), then Keras's other activations.
LECTURE_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "prelu", "rrelu")
KERAS_ACTIVATIONS = (
    "linear",
    "elu",
    "selu",
    "gelu",
    "silu",
    "swish",
    "mish",
    "softplus",
    "softsign",
    "hard_sigmoid",
    "hard_silu",
    "relu6",
    "celu",
    "exponential",
    "softmax",
)


def activation_names():
    """Every name :func:`get_activation` accepts."""
    return LECTURE_ACTIVATIONS + KERAS_ACTIVATIONS


def _split_spec(spec):
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, dict):
        if "name" not in spec:
            raise ToolkitError(f"activation dict needs a 'name' key; received {spec!r}")
        options = dict(spec)
        return options.pop("name"), options
    raise ToolkitError(f"activation must be a name, a dict with 'name', or a keras Layer; received {spec!r}")


def get_activation(spec, name=None):
    """A new activation layer for ``spec``, named ``name`` (e.g. ``"enc1_act"``).

    Example:
        >>> get_activation("leaky_relu", name="block1_act").negative_slope
        0.2
        >>> get_activation({"name": "rrelu", "lower": 0.1, "upper": 0.2}).upper
        0.2
    """
    if isinstance(spec, keras.layers.Layer):
        config = spec.get_config()
        if name is not None:
            config["name"] = name
        else:
            config.pop("name", None)
        return spec.__class__.from_config(config)
    key, options = _split_spec(spec)
    check_choice("activation", key, activation_names())
    try:
        if key == "leaky_relu":
            options.setdefault("negative_slope", 0.2)
            return keras.layers.LeakyReLU(name=name, **options)
        if key == "prelu":
            return PReLU(name=name, **options)
        if key == "rrelu":
            return RReLU(name=name, **options)
        if options:
            raise TypeError(f"{key} takes no options")
        return keras.layers.Activation(key, name=name)
    except ToolkitError:
        raise
    except (TypeError, ValueError) as exc:
        raise ToolkitError(f"bad options {options!r} for activation {key!r}: {exc}") from None


def activation_label(spec):
    """A short, file-name-safe label of a spec (``"leaky_relu"``, ``"rrelu"``)."""
    if isinstance(spec, keras.layers.Layer):
        return spec.__class__.__name__.lower()
    return _split_spec(spec)[0]
