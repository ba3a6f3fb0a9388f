"""The model zoo (slide 56): LeNet-5, AlexNet, VGG, GoogLeNet and ResNet, CIFAR-sized.

Every model is built from the blocks of :mod:`toolkit.cnn` (named layers, the activation
resolver, the ``rescale`` + ``augment`` input) and registered by name, so an experiment
picks one with a string:

    >>> model = build_model("resnet20", input_shape=(32, 32, 3), num_classes=10)
    >>> sum(int(w.numpy().size) for w in model.trainable_weights)  # the paper's 0.27M
    269722
    >>> "vgg16" in list_models()
    True

Each registered function takes ``input_shape``, ``num_classes`` and keyword options
(``input_scale``, ``augment``, ``activation``, ``name`` and the model's own), and works
for 28x28x1 (MNIST) and 32x32x3 (CIFAR-10) inputs. Generic builders carry the structure;
the registered variants are thin (ResNet-20 and ResNet-56 differ by one tuple).

Choices for small inputs, documented where they are made:

- LeNet-5 pads its first convolution ("same") when the input is smaller than 32x32, as
  MNIST's 28x28 digits were padded to 32x32 in the original (LeCun et al. 1998).
- VGG pools with ``padding="same"``, so its five pools take 28 -> 14 -> 7 -> 4 -> 2 -> 1
  (on 32x32 the sizes are the paper's CIFAR ones, 32 -> ... -> 1); no resizing.
- GoogLeNet's stem pools once and its inner pools are 3x3/2 "same" (16 -> 8 -> 4 on CIFAR).
"""

import keras

from toolkit.activations import get_activation
from toolkit.cnn import BN_MOMENTUM, build_cnn, check_input_shape, classifier_head, conv_block, model_inputs
from toolkit.errors import ToolkitError, check_choice, check_shape

_MODELS = {}


def register_model(fn=None, *, name=None):
    """Register a builder ``fn(input_shape, num_classes, **kwargs) -> keras.Model`` by name.

    Used bare (``@register_model``: the function's name) or with ``name=``.
    """

    def register(func):
        key = name or func.__name__
        if key in _MODELS:
            raise ToolkitError(f"model {key!r} is already registered; pick another name")
        _MODELS[key] = func
        return func

    return register(fn) if fn is not None else register


def list_models():
    """The registered model names, sorted."""
    return tuple(sorted(_MODELS))


def build_model(name, input_shape=(32, 32, 3), num_classes=10, **kwargs):
    """Build the registered model ``name`` for ``input_shape`` images and ``num_classes``.

    Unknown names raise ``ToolkitError`` (a ``ValueError``) listing the known ones;
    options the model does not take raise it too.
    """
    check_choice("model", name, list_models())
    check_input_shape(input_shape)
    try:
        return _MODELS[name](input_shape=tuple(input_shape), num_classes=num_classes, **kwargs)
    except TypeError as exc:
        raise ToolkitError(f"bad options {sorted(kwargs)} for model {name!r}: {exc}") from None


def _scaled(filters, width):
    return max(1, int(round(filters * width)))


# --------------------------------------------------------------------------- plain CNNs


@register_model
def simple_convnet(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    """Keras's "simple MNIST convnet" (keras-io), nothing added but the rescaling:
    Conv 32 3x3 -> max pool 2 -> Conv 64 3x3 -> max pool 2 -> flatten -> dropout 0.5 ->
    softmax (valid padding; 34,826 parameters on 28x28x1)."""
    block = {"padding": "valid", "pool": "max", "fuse_activation": True}
    blocks = [dict(block, filters=32), dict(block, filters=64)]
    kwargs.setdefault("name", "simple_convnet")
    return build_cnn(
        input_shape, blocks, head="flatten", dense_units=(), dropout=0.5, num_classes=num_classes, **kwargs
    )


@register_model
def cnn_mnist(input_shape=(28, 28, 1), num_classes=10, dropout=0.4, **kwargs):
    """The cnn-mnist experiment's default (slides 45–54): three conv blocks with batch
    normalisation — 32@5x5 and 64@3x3 each followed by a 2x2 max pool, then 128@3x3 — a
    dense 128 with dropout and the softmax.

    Built to be cheap on a CPU and quick to train: valid padding and early pooling keep it
    at about 3.1 M multiply-adds per 28x28 image (28 -> 24 -> 12 -> 10 -> 5 -> 3; 1.3x the
    keras-io "simple MNIST convnet"), and with the experiment's one-cycle schedule it
    reaches 99.4–99.5 % test accuracy in 3 epochs (see benchmarks/RESULTS.md, goal 1).
    """
    block = {"padding": "valid", "batch_norm": True, "pool": "max"}
    blocks = [dict(block, filters=32, kernel_size=5), dict(block, filters=64), dict(block, filters=128, pool=None)]
    kwargs.setdefault("name", "cnn_mnist")
    return build_cnn(
        input_shape, blocks, head="flatten", dense_units=(128,), dropout=dropout, num_classes=num_classes, **kwargs
    )


@register_model
def lenet5(input_shape=(32, 32, 3), num_classes=10, activation="tanh", pool="average", **kwargs):
    """LeNet-5 (LeCun et al. 1998): conv 6@5x5 -> pool -> conv 16@5x5 -> pool -> 120 -> 84.

    Tanh and average pooling as in the paper (``activation="relu", pool="max"`` for the
    modern form); the first convolution pads ("same") on inputs smaller than 32x32.
    """
    first_padding = "same" if min(input_shape[:2]) < 32 else "valid"
    blocks = [
        {"filters": 6, "kernel_size": 5, "padding": first_padding, "pool": pool},
        {"filters": 16, "kernel_size": 5, "padding": "valid", "pool": pool},
    ]
    kwargs.setdefault("name", "lenet5")
    return build_cnn(
        input_shape,
        blocks,
        head="flatten",
        dense_units=(120, 84),
        num_classes=num_classes,
        activation=activation,
        **kwargs,
    )


@register_model
def alexnet(input_shape=(32, 32, 3), num_classes=10, width=1.0, batch_norm=False, dropout=0.5, **kwargs):
    """A small AlexNet (Krizhevsky et al. 2012) for 32x32: five convolutions
    (64@5x5, 192@5x5, 384, 256, 256 @3x3) with three max pools, then dense 512 and 256
    with dropout. ``width`` scales the filters."""
    f = [_scaled(n, width) for n in (64, 192, 384, 256, 256)]
    blocks = [
        {"filters": f[0], "kernel_size": 5, "pool": "max", "batch_norm": batch_norm},
        {"filters": f[1], "kernel_size": 5, "pool": "max", "batch_norm": batch_norm},
        {"filters": f[2], "batch_norm": batch_norm},
        {"filters": f[3], "batch_norm": batch_norm},
        {"filters": f[4], "pool": "max", "batch_norm": batch_norm},
    ]
    kwargs.setdefault("name", "alexnet")
    return build_cnn(
        input_shape, blocks, head="flatten", dense_units=(512, 256), dropout=dropout, num_classes=num_classes, **kwargs
    )


# --------------------------------------------------------------------------- VGG


def VGG(input_shape, stages, num_classes=10, width=1.0, batch_norm=True, dropout=0.0, name="vgg", **kwargs):
    """VGG (Simonyan & Zisserman 2015), CIFAR form: ``stages`` of (filters, convs) 3x3 conv
    blocks, each ending in a 2x2 max pool ("same", so 28x28 inputs reach 1x1 too), with
    batch normalisation; then flatten (512 features) and the softmax head."""
    blocks = [
        {"filters": _scaled(f, width), "convs": n, "batch_norm": batch_norm, "pool": "max", "pool_padding": "same"}
        for f, n in stages
    ]
    return build_cnn(
        input_shape,
        blocks,
        head="flatten",
        dense_units=(),
        dropout=dropout,
        num_classes=num_classes,
        name=name,
        **kwargs,
    )


@register_model
def vgg11(input_shape=(32, 32, 3), num_classes=10, **kwargs):
    """VGG-11 ("A"): 64, 128, 2x256, 2x512, 2x512."""
    kwargs.setdefault("name", "vgg11")
    return VGG(input_shape, ((64, 1), (128, 1), (256, 2), (512, 2), (512, 2)), num_classes, **kwargs)


@register_model
def vgg16(input_shape=(32, 32, 3), num_classes=10, **kwargs):
    """VGG-16 ("D"): 2x64, 2x128, 3x256, 3x512, 3x512."""
    kwargs.setdefault("name", "vgg16")
    return VGG(input_shape, ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)), num_classes, **kwargs)


# --------------------------------------------------------------------------- GoogLeNet


def inception_block(x, f1, f3_reduce, f3, f5_reduce, f5, pool_proj, activation="relu", name="inc3a"):
    """An Inception module (Szegedy et al. 2015): 1x1, 1x1 -> 3x3, 1x1 -> 5x5 and
    3x3 max pool -> 1x1 branches (each conv with batch normalisation), concatenated.

    Layers: ``{name}_1x1_conv``, ``{name}_3x3_reduce_conv``, ``{name}_3x3_conv``,
    ``{name}_5x5_reduce_conv``, ``{name}_5x5_conv``, ``{name}_pool``,
    ``{name}_pool_proj_conv`` (each with ``_bn`` and ``_act``), ``{name}_concat``.
    """

    def cb(y, filters, k, suffix):
        return conv_block(y, filters, k, activation=activation, batch_norm=True, name=f"{name}_{suffix}")

    b1 = cb(x, f1, 1, "1x1")
    b3 = cb(cb(x, f3_reduce, 1, "3x3_reduce"), f3, 3, "3x3")
    b5 = cb(cb(x, f5_reduce, 1, "5x5_reduce"), f5, 5, "5x5")
    bp = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    bp = cb(bp, pool_proj, 1, "pool_proj")
    return keras.layers.Concatenate(name=f"{name}_concat")([b1, b3, b5, bp])


# name, then (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) as in the paper's table 1;
# "pool" marks a 3x3/2 max pool.
GOOGLENET_STAGES = (
    ("inc3a", (64, 96, 128, 16, 32, 32)),
    ("inc3b", (128, 128, 192, 32, 96, 64)),
    "pool",
    ("inc4a", (192, 96, 208, 16, 48, 64)),
    ("inc4b", (160, 112, 224, 24, 64, 64)),
    "pool",
    ("inc5a", (256, 160, 320, 32, 128, 128)),
)


@register_model
def googlenet(
    input_shape=(32, 32, 3),
    num_classes=10,
    width=1.0,
    dropout=0.4,
    activation="relu",
    input_scale=1.0 / 255.0,
    augment=None,
    name="googlenet",
):
    """A GoogLeNet-style network for 32x32: a 64@3x3 stem with max pool, Inception modules
    3a, 3b, pool, 4a, 4b, pool, 5a (the paper's widths, ``width`` scales them), global
    average pooling, dropout and the softmax head."""
    inputs, x = model_inputs(input_shape, input_scale, augment)
    x = conv_block(
        x, _scaled(64, width), 3, activation=activation, batch_norm=True, pool="max", pool_padding="same", name="stem"
    )
    n_pool = 0
    for stage in GOOGLENET_STAGES:
        if stage == "pool":
            n_pool += 1
            x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{n_pool}")(x)
        else:
            block, filters = stage
            x = inception_block(x, *[_scaled(f, width) for f in filters], activation=activation, name=block)
    outputs = classifier_head(x, "global_average", (), dropout, num_classes, activation)
    return keras.Model(inputs, outputs, name=name)


# --------------------------------------------------------------------------- ResNet


def _conv_bn(x, filters, kernel_size, strides, name):
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name=f"{name}_conv",
    )(x)
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)


def _pad_shortcut(x, filters, strides, name):
    """He et al.'s option A: subsample by ``strides`` and zero-pad the new channels (no
    parameters), from built-in layers only so the model reloads in safe mode."""
    if strides != 1:
        x = keras.layers.MaxPooling2D(1, strides=strides, name=f"{name}_short_pool")(x)  # x[:, ::s, ::s]
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    extra = filters - c
    if extra > 0:
        x = keras.layers.Reshape((h, w, c, 1), name=f"{name}_short_expand")(x)
        x = keras.layers.ZeroPadding3D(((0, 0), (0, 0), (extra // 2, extra - extra // 2)), name=f"{name}_short_pad")(x)
        x = keras.layers.Reshape((h, w, filters), name=f"{name}_short_squeeze")(x)
    return x


def residual_block(x, filters, strides=1, shortcut="A", activation="relu", name="stage1_block1"):
    """The basic residual block (He et al. 2016, fig. 2): conv3x3-BN-act-conv3x3-BN, plus
    the shortcut, then the activation. When the shape changes the shortcut is option
    ``"A"`` (subsample, zero-pad channels: the paper's CIFAR choice) or ``"B"`` (1x1 conv +
    BN projection).

    Layers: ``{name}_1_conv/_bn/_act``, ``{name}_2_conv/_bn``, ``{name}_short_*``,
    ``{name}_add``, ``{name}_out``.
    """
    check_choice("shortcut", shortcut, ("A", "B"))
    if strides != 1 or x.shape[-1] != filters:
        if shortcut == "A":
            short = _pad_shortcut(x, filters, strides, name)
        else:
            short = _conv_bn(x, filters, 1, strides, f"{name}_short")
    else:
        short = x
    y = _conv_bn(x, filters, 3, strides, f"{name}_1")
    y = get_activation(activation, name=f"{name}_1_act")(y)
    y = _conv_bn(y, filters, 3, 1, f"{name}_2")
    y = keras.layers.Add(name=f"{name}_add")([short, y])
    return get_activation(activation, name=f"{name}_out")(y)


def stack_residual_blocks(x, filters, blocks, strides=2, shortcut="A", activation="relu", name="stage1"):
    """``blocks`` residual blocks; the first one strides (``{name}_block1``...)."""
    for i in range(1, blocks + 1):
        x = residual_block(x, filters, strides if i == 1 else 1, shortcut, activation, name=f"{name}_block{i}")
    return x


def ResNet(
    input_shape,
    depths,
    num_classes=10,
    widths=(16, 32, 64),
    shortcut="A",
    activation="relu",
    input_scale=1.0 / 255.0,
    augment=None,
    name="resnet",
):
    """The CIFAR ResNet (He et al. 2016, section 4.2): a 16@3x3 stem, three stages of basic
    blocks with 16, 32, 64 filters (the 2nd and 3rd halve the size), global average
    pooling, softmax. ``depths`` = blocks per stage: depth 6n+2 has ``(n, n, n)``."""
    depths = check_shape("depths", depths, rank=len(widths), expected=f"{len(widths)} positive ints (one per width)")
    inputs, x = model_inputs(input_shape, input_scale, augment)
    x = _conv_bn(x, widths[0], 3, 1, "stem")
    x = get_activation(activation, name="stem_act")(x)
    for i, (depth, width) in enumerate(zip(depths, widths), start=1):
        x = stack_residual_blocks(x, width, depth, 1 if i == 1 else 2, shortcut, activation, name=f"stage{i}")
    outputs = classifier_head(x, "global_average", (), 0.0, num_classes, activation)
    return keras.Model(inputs, outputs, name=name)


@register_model
def resnet20(input_shape=(32, 32, 3), num_classes=10, **kwargs):
    """ResNet-20 (0.27 M parameters): 3 blocks per stage."""
    kwargs.setdefault("name", "resnet20")
    return ResNet(input_shape, (3, 3, 3), num_classes, **kwargs)


@register_model
def resnet56(input_shape=(32, 32, 3), num_classes=10, **kwargs):
    """ResNet-56 (0.85 M parameters): 9 blocks per stage."""
    kwargs.setdefault("name", "resnet56")
    return ResNet(input_shape, (9, 9, 9), num_classes, **kwargs)


@register_model
def resnet9(
    input_shape=(32, 32, 3),
    num_classes=10,
    width=1.0,
    activation="relu",
    input_scale=1.0 / 255.0,
    augment=None,
    name="resnet9",
):
    """The fast ResNet-9 of the DAWNBench CIFAR-10 speed runs (Page 2018, "How to train
    your ResNet"): prep 64; layer1 128 + pool + residual(128, 128); layer2 256 + pool;
    layer3 512 + pool + residual(512, 512); global max pool; softmax. Every conv is
    3x3 + BN + activation. ``width`` scales the filters."""
    f = [_scaled(n, width) for n in (64, 128, 256, 512)]
    opts = {"batch_norm": True, "activation": activation}
    inputs, x = model_inputs(input_shape, input_scale, augment)
    x = conv_block(x, f[0], name="prep", **opts)
    for i, filters, residual in ((1, f[1], True), (2, f[2], False), (3, f[3], True)):
        x = conv_block(x, filters, pool="max", name=f"layer{i}", **opts)
        if residual:
            y = conv_block(x, filters, name=f"layer{i}_res1", **opts)
            y = conv_block(y, filters, name=f"layer{i}_res2", **opts)
            x = keras.layers.Add(name=f"layer{i}_add")([x, y])
    outputs = classifier_head(x, "global_max", (), 0.0, num_classes, activation)
    return keras.Model(inputs, outputs, name=name)
