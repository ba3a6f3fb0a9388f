"""Convolution blocks, the CNN builder and the augmentation pipeline (slides 45–55).

A CNN alternates convolution and pooling, then flattens (or pools globally) and ends with
fully connected layers (slides 49, 51, 53–54).

- :func:`conv_block` ``(x, filters, ..., name)`` returns a tensor; every layer is named from
  ``name`` (``block1_conv``, ``block1_bn``, ``block1_act``, ``block1_pool``, ``block1_drop``).
- :func:`build_cnn` builds a classifier from a list of block specs, checking the spatial size
  block by block (an impossible spec raises ``ToolkitError`` naming the block and the shapes).
- :func:`augmentation` builds a ``keras.Sequential`` of preprocessing layers (slide 55).

Models take uint8 images (N, H, W, C) and scale inside (a ``Rescaling`` layer named
``rescale``); an ``augment`` pipeline sits right after it.
"""

import inspect

import keras

from toolkit.activations import get_activation
from toolkit.errors import ToolkitError, check_choice, check_int, check_number, check_shape, is_int
from toolkit.layers import RandomShear, RandomShiftCrop

# Batch-norm statistics use momentum 0.9: Keras's 0.99 needs several hundred steps before
# inference is usable (a few-epoch CPU run would evaluate with near-initial statistics).
BN_MOMENTUM = 0.9

PADDINGS = ("valid", "same")
POOLS = (None, "max", "average")
HEADS = ("flatten", "global_average", "global_max")
FLIPS = (None, "horizontal", "vertical", "horizontal_and_vertical")
FILL_MODES = ("constant", "reflect", "wrap", "nearest")


def _pair(value, what, block):
    pair = (value, value) if is_int(value) else value
    check_shape(f"{block}: {what}", pair, rank=2, expected="a positive int or a pair of them")
    return tuple(int(v) for v in pair)


def _out_size(size, window, stride, padding):
    """Spatial size after a window (conv or pool) slides over ``size`` cells."""
    if padding == "same":
        return -(-size // stride)
    return (size - window) // stride + 1


def conv_output_size(hw, kernel_size, strides, padding):
    """(H, W) after a convolution or pooling window; a size below 1 means impossible.

    Example:
        >>> conv_output_size((28, 28), 3, 1, "valid"), conv_output_size((7, 7), 2, 2, "same")
        ((26, 26), (4, 4))
    """
    k, s = _pair(kernel_size, "kernel_size", "layer"), _pair(strides, "strides", "layer")
    return tuple(_out_size(n, kk, ss, padding) for n, kk, ss in zip(hw, k, s))


def conv_block(
    x,
    filters,
    kernel_size=3,
    strides=1,
    padding="same",
    activation="relu",
    batch_norm=False,
    pool=None,
    pool_size=2,
    pool_padding="valid",
    dropout=0.0,
    convs=1,
    fuse_activation=False,
    name="block1",
):
    """``convs`` x (Conv2D -> [BatchNorm] -> activation), then [pooling], then [dropout].

    Layers are ``{name}_conv``, ``{name}_bn``, ``{name}_act`` (numbered ``_conv1``,
    ``_conv2``... when ``convs > 1``), ``{name}_pool`` and ``{name}_drop``. The conv has no
    bias when batch normalisation follows (its shift makes the bias redundant). The
    activation goes through :func:`toolkit.activations.get_activation`, so any name works.
    Only the first conv uses ``strides`` (slide 51). ``fuse_activation=True`` (no batch
    norm, a plain Keras activation such as ``"relu"``) puts the activation inside the
    Conv2D, as ``Conv2D(32, 3, activation="relu")`` does, so there is no ``_act`` layer.

    Example:
        >>> inputs = keras.Input((28, 28, 1))
        >>> y = conv_block(inputs, 8, pool="max", batch_norm=True, name="block1")
        >>> tuple(y.shape)
        (None, 14, 14, 8)
    """
    check_choice("padding", padding, PADDINGS)
    check_choice("pool_padding", pool_padding, PADDINGS)
    check_choice("pooling", pool, POOLS)
    fused = None
    if fuse_activation:
        fused = get_activation(activation)
        if batch_norm or type(fused) is not keras.layers.Activation:
            raise ToolkitError(
                f"{name}: fuse_activation needs batch_norm=False and a plain Keras activation "
                f"(relu, tanh, ...); received activation={activation!r}, batch_norm={batch_norm!r}"
            )
    for i in range(1, convs + 1):
        suffix = "" if convs == 1 else str(i)
        x = keras.layers.Conv2D(
            filters,
            kernel_size,
            strides=strides if i == 1 else 1,
            padding=padding,
            activation=fused.activation if fused else None,
            use_bias=not batch_norm,
            name=f"{name}_conv{suffix}",
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn{suffix}")(x)
        if not fused:
            x = get_activation(activation, name=f"{name}_act{suffix}")(x)
    if pool == "max":
        x = keras.layers.MaxPooling2D(pool_size, padding=pool_padding, name=f"{name}_pool")(x)
    elif pool == "average":
        x = keras.layers.AveragePooling2D(pool_size, padding=pool_padding, name=f"{name}_pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_drop")(x)
    return x


# A block spec is conv_block's keyword arguments: its keys and defaults come from the
# signature (all but the input and the name), so a new conv_block parameter is one edit.
BLOCK_DEFAULTS = {
    key: p.default for key, p in inspect.signature(conv_block).parameters.items() if key not in ("x", "name")
}
BLOCK_KEYS = tuple(BLOCK_DEFAULTS)
BLOCK_REQUIRED = tuple(key for key, default in BLOCK_DEFAULTS.items() if default is inspect.Parameter.empty)


def check_block_spec(spec, index, hw, default_activation="relu"):
    """Validate block ``index`` (1-based) of a spec against the incoming (H, W).

    Returns ``(kwargs for conv_block, (H, W) after the block)``; raises ``ToolkitError``
    naming the block and the shapes when the spec is malformed or impossible.
    """
    block = f"block{index}"
    if not isinstance(spec, dict):
        raise ToolkitError(f"{block}: a block spec must be a dict such as {{'filters': 32}}; received {spec!r}")
    unknown = sorted(set(spec) - set(BLOCK_KEYS))
    if unknown:
        raise ToolkitError(f"{block}: unknown block keys {unknown}; valid: {', '.join(BLOCK_KEYS)}")
    for key in BLOCK_REQUIRED:
        if key not in spec:
            raise ToolkitError(f"{block}: a block spec needs {key!r}; received {spec!r}")
    options = {key: default for key, default in BLOCK_DEFAULTS.items() if key not in BLOCK_REQUIRED}
    options["activation"] = default_activation
    options.update(spec)
    for key in ("filters", "convs"):
        options[key] = check_int(f"{block}: {key}", options[key], low=1)
    convs = options["convs"]
    options["dropout"] = check_number(f"{block}: dropout", options["dropout"], low=0, high=1, high_open=True)
    for key, allowed in (("padding", PADDINGS), ("pool_padding", PADDINGS), ("pool", POOLS)):
        if options[key] not in allowed:
            raise ToolkitError(f"{block}: unknown {key} {options[key]!r}; valid: {', '.join(map(str, allowed))}")
    if options["fuse_activation"]:
        fused = get_activation(options["activation"])
        if options["batch_norm"] or type(fused) is not keras.layers.Activation:
            raise ToolkitError(
                f"{block}: fuse_activation needs batch_norm=False and a plain Keras activation "
                f"(relu, tanh, ...); received activation={options['activation']!r}"
            )
    kernel = options["kernel_size"] = _pair(options["kernel_size"], "kernel_size", block)
    strides = options["strides"] = _pair(options["strides"], "strides", block)
    size = tuple(hw)
    for i in range(convs):
        new = tuple(_out_size(n, k, s if i == 0 else 1, options["padding"]) for n, k, s in zip(size, kernel, strides))
        if min(new) < 1:
            raise ToolkitError(
                f"{block}: a {kernel[0]}x{kernel[1]} conv with {options['padding']} padding cannot run on a "
                f"{size[0]}x{size[1]} input (output would be {new[0]}x{new[1]}); use padding='same', "
                "fewer blocks or a larger input"
            )
        size = new
    if options["pool"]:
        pool = options["pool_size"] = _pair(options["pool_size"], "pool_size", block)
        new = tuple(_out_size(n, p, p, options["pool_padding"]) for n, p in zip(size, pool))
        if min(new) < 1:
            raise ToolkitError(
                f"{block}: {pool[0]}x{pool[1]} {options['pool']} pooling cannot run on a {size[0]}x{size[1]} "
                f"feature map (input {hw[0]}x{hw[1]}, output would be {new[0]}x{new[1]}); remove the pooling, "
                "use pool_padding='same' or a larger input"
            )
        size = new
    return options, size


def check_input_shape(input_shape):
    """``input_shape`` as a tuple (H, W, C) of positive ints, or ``ToolkitError``."""
    return check_shape("input_shape", input_shape, axes=("height", "width", "channels"))


def model_inputs(input_shape, input_scale=1.0 / 255.0, augment=None):
    """The input tensor and the first features: ``rescale`` then the ``augment`` pipeline.

    ``augment`` is a layer (e.g. from :func:`augmentation`), a dict of its parameters, or
    None. The pipeline runs after scaling, so its value range is [0, 1] by default.
    """
    shape = check_input_shape(input_shape)
    inputs = keras.Input(shape, name="image")
    x = inputs
    if input_scale is not None:
        x = keras.layers.Rescaling(input_scale, name="rescale")(x)
    if isinstance(augment, dict):
        augment = augmentation(**_check_augment_keys(augment))
    if augment is not None:
        if not isinstance(augment, keras.layers.Layer):
            raise ToolkitError(
                f"augment must be a keras layer, a dict of augmentation() parameters or None; received {augment!r}"
            )
        if not (isinstance(augment, keras.Sequential) and not augment.layers):
            x = augment(x)
    return inputs, x


def classifier_head(
    x, head="flatten", dense_units=(128,), dropout=0.0, num_classes=10, activation="relu", output_activation="softmax"
):
    """Flatten or pool globally, then ``fc{i}_dense`` / ``fc{i}_act`` layers, then ``head``.

    ``dropout`` (if > 0) comes before every dense layer, the head included: ``fc1_drop``,
    ``fc2_drop``, ..., ``head_drop`` (Keras's simple MNIST convnet is flatten -> dropout 0.5
    -> head). ``num_classes=None`` returns the features without a head.
    """
    check_choice("head", head, HEADS)
    units = () if not dense_units else check_shape("dense_units", dense_units, expected="positive ints")
    dropout = check_number("dropout", dropout, low=0, high=1, high_open=True)
    if head == "flatten":
        x = keras.layers.Flatten(name="flatten")(x)
    elif head == "global_average":
        x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    else:
        x = keras.layers.GlobalMaxPooling2D(name="global_pool")(x)
    for i, n in enumerate(units, start=1):
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"fc{i}_drop")(x)
        x = keras.layers.Dense(n, name=f"fc{i}_dense")(x)
        x = get_activation(activation, name=f"fc{i}_act")(x)
    if check_int("num_classes", num_classes, low=1, optional=True) is None:
        return x
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_drop")(x)
    return keras.layers.Dense(num_classes, activation=output_activation, name="head")(x)


def build_cnn(
    input_shape=(28, 28, 1),
    blocks=({"filters": 32, "pool": "max"}, {"filters": 64, "pool": "max"}),
    head="flatten",
    dense_units=(128,),
    dropout=0.0,
    num_classes=10,
    activation="relu",
    output_activation="softmax",
    input_scale=1.0 / 255.0,
    augment=None,
    name="cnn",
):
    """A CNN classifier from a stack-wise list of convolution blocks (slides 49–54).

    Args:
        input_shape: (H, W, C) of the images (uint8 as loaded; see ``input_scale``).
        blocks: one dict per :func:`conv_block`, keys among :data:`BLOCK_KEYS`
            (``filters`` required; ``kernel_size`` 3, ``strides`` 1, ``padding`` "same",
            ``activation`` = the model's, ``batch_norm`` False, ``pool`` None/"max"/"average",
            ``pool_size`` 2, ``pool_padding`` "valid", ``dropout`` 0, ``convs`` 1,
            ``fuse_activation`` False). Block i is named ``block{i}``.
        head: ``"flatten"`` (slide 46) or ``"global_average"`` / ``"global_max"`` pooling.
        dense_units: hidden fully connected layers ``fc1``, ``fc2``... (slide 54).
        dropout: rate before each dense layer and the head (0 = none).
        num_classes: units of the softmax ``head``.
        activation: hidden activation spec for every block and dense layer (the resolver).
        input_scale: a ``Rescaling`` factor (``rescale`` layer); None to skip.
        augment: a pipeline from :func:`augmentation`, a dict of its parameters, or None.

    Raises:
        ToolkitError: a malformed or impossible spec, naming the block and the shapes, e.g.
        ``block5: 2x2 max pooling cannot run on a 1x1 feature map (input 28x28, ...)``.

    Example (Keras's simple MNIST convnet, 34,826 parameters):
        >>> block = {"padding": "valid", "pool": "max", "fuse_activation": True}
        >>> model = build_cnn((28, 28, 1), blocks=[dict(block, filters=32), dict(block, filters=64)],
        ...                   dense_units=(), dropout=0.5)
        >>> [layer.__class__.__name__ for layer in model.layers[1:]]  # doctest: +NORMALIZE_WHITESPACE
        ['Rescaling', 'Conv2D', 'MaxPooling2D', 'Conv2D', 'MaxPooling2D', 'Flatten', 'Dropout', 'Dense']
        >>> model.count_params()
        34826
    """
    shape = check_input_shape(input_shape)
    specs = list(blocks or ())
    if not specs:
        raise ToolkitError(f"blocks must hold at least one block spec; received {blocks!r}")
    hw = shape[:2]
    resolved = []
    for i, spec in enumerate(specs, start=1):
        options, hw = check_block_spec(spec, i, hw, activation)
        resolved.append(options)
    inputs, x = model_inputs(shape, input_scale, augment)
    for i, options in enumerate(resolved, start=1):
        x = conv_block(x, name=f"block{i}", **options)
    outputs = classifier_head(x, head, dense_units, dropout, num_classes, activation, output_activation)
    return keras.Model(inputs, outputs, name=name)


# --------------------------------------------------------------------------- augmentation


def augmentation(
    rotation=0.0,
    zoom=0.0,
    flip=None,
    translation=0.0,
    crop_pad=0,
    shear=0.0,
    elastic=0.0,
    erasing=0.0,
    erasing_scale=(0.02, 0.2),
    contrast=0.0,
    fill_mode="constant",
    value_range=(0.0, 1.0),
    seed=None,
    name="augment",
    **unknown,
):
    """A ``keras.Sequential`` of Keras preprocessing layers from parameters (slide 55).

    Inside a model the layers act only in training (``training=True``) and are the
    identity at inference. Zero (or None) leaves a transformation out; the order is flip,
    rotation, zoom, translation, crop, shear, elastic, contrast, erasing. Every option is
    checked here (one-line ``ToolkitError``, never a Keras ``ValueError`` from inside a
    layer), and every layer this returns saves to ``.keras`` and reloads with identical
    inference outputs: shear uses :class:`toolkit.layers.RandomShear`, because Keras
    3.15's own ``RandomShear`` writes a config its constructor rejects.

    Args:
        rotation: the largest rotation in **degrees**, in [0, 360], drawn in
            [-rotation, rotation] (converted to Keras's fraction of a full turn: ``rotation / 360``).
        zoom: the largest relative zoom in and out, in [0, 1), e.g. 0.1 for +-10% (``RandomZoom``).
        flip: None, ``"horizontal"``, ``"vertical"`` or ``"horizontal_and_vertical"``.
        translation: the largest shift as a fraction of height and width, in [0, 1]
            (``RandomTranslation``).
        crop_pad: pixels of zero padding before a random crop back to size
            (:class:`toolkit.layers.RandomShiftCrop`; integer shifts, fast on a GPU).
        shear: the largest shear factor along x and y, in [0, 1] (``RandomShear``).
        elastic: the largest magnitude of the elastic distortion, in (0, 1]
            (``RandomElasticTransform``'s ``scale``, applied to every image; 0 = off).
        erasing: the largest probability of erasing (cutting out) a random rectangle per
            image (``RandomErasing``), whose area fraction lies in ``erasing_scale``.
        contrast: the largest contrast change, in [0, 1], e.g. 0.2 for factors in [0.8, 1.2].
        erasing_scale: ``(low, high)`` area fractions of an erased rectangle, ``0 < low <= high <= 1``.
        fill_mode: how geometric transforms fill uncovered cells (``"constant"`` = zeros,
            ``"reflect"``, ``"wrap"``, ``"nearest"``).
        value_range: the range of incoming values, ``(low, high)`` with ``low < high``;
            (0, 1) after the model's rescaling.
        seed: an int >= 0 for reproducible draws (each layer gets ``seed + i``).

    Example:
        >>> [layer.name for layer in augmentation(rotation=10, zoom=0.1, crop_pad=2).layers]
        ['augment_rotation', 'augment_zoom', 'augment_crop']
    """
    if unknown:
        _check_augment_keys(unknown)
    check_choice("flip", flip, FLIPS)
    check_choice("fill_mode", fill_mode, FILL_MODES)
    rotation = check_number("augmentation rotation (degrees)", rotation, low=0, high=360)
    zoom = check_number("augmentation zoom", zoom, low=0, high=1, high_open=True)
    translation, shear, contrast, erasing, elastic = (
        check_number(f"augmentation {key}", value, low=0, high=1)
        for key, value in (
            ("translation", translation),
            ("shear", shear),
            ("contrast", contrast),
            ("erasing", erasing),
            ("elastic", elastic),
        )
    )
    crop_pad = check_int("augmentation crop_pad", crop_pad, low=0)
    erasing_scale = _check_pair("augmentation erasing_scale", erasing_scale, low=0, high=1, low_open=True)
    value_range = _check_pair("augmentation value_range", value_range, strict=True)
    seed = check_int("augmentation seed", seed, low=0, optional=True)
    counter = iter(range(100))

    def s():
        return None if seed is None else seed + next(counter)

    geometric = {"fill_mode": fill_mode, "fill_value": 0.0}
    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip(flip, seed=s(), name=f"{name}_flip"))
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation / 360.0, seed=s(), name=f"{name}_rotation", **geometric))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, seed=s(), name=f"{name}_zoom", **geometric))
    if translation:
        layers.append(
            keras.layers.RandomTranslation(translation, translation, seed=s(), name=f"{name}_translation", **geometric)
        )
    if crop_pad:
        layers.append(RandomShiftCrop(crop_pad, seed=s(), name=f"{name}_crop"))
    if shear:
        layers.append(RandomShear(shear, shear, seed=s(), name=f"{name}_shear", **geometric))
    if elastic:
        layers.append(
            keras.layers.RandomElasticTransform(
                1.0, scale=elastic, value_range=value_range, seed=s(), name=f"{name}_elastic", **geometric
            )
        )
    if contrast:
        layers.append(keras.layers.RandomContrast(contrast, value_range=value_range, seed=s(), name=f"{name}_contrast"))
    if erasing:
        layers.append(
            keras.layers.RandomErasing(
                erasing,
                scale=tuple(erasing_scale),
                fill_value=0.0,
                value_range=value_range,
                seed=s(),
                name=f"{name}_erasing",
            )
        )
    return keras.Sequential(layers, name=name)


def _check_pair(name, value, low=None, high=None, low_open=False, strict=False):
    """``(lo, hi)`` of finite numbers in bounds with ``lo <= hi`` (``lo < hi`` if ``strict``)."""
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise ToolkitError(f"{name} must be a pair (low, high) of numbers; received {value!r}") from None
    lo = check_number(f"{name} low", lo, low=low, high=high, low_open=low_open)
    hi = check_number(f"{name} high", hi, low=low, high=high, low_open=low_open)
    if hi < lo or (strict and hi == lo):
        raise ToolkitError(f"{name} must have low {'<' if strict else '<='} high; received {value!r}")
    return (lo, hi)


def augmentation_params():
    """The parameter names :func:`augmentation` accepts."""
    return tuple(name for name, p in inspect.signature(augmentation).parameters.items() if p.kind is not p.VAR_KEYWORD)


def _check_augment_keys(params):
    unknown = sorted(set(params) - set(augmentation_params()))
    if unknown:
        raise ToolkitError(f"unknown augmentation parameters {unknown}; valid: {', '.join(augmentation_params())}")
    return params
