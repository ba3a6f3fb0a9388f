"""Autoencoder builders (slides 2–8, 15): plain, stacked, sparse, denoising, convolutional.

An autoencoder is a network trained with its own input as the teacher (slides 2–3):
visible → hidden (*encoding*) → visible (*decoding*, slide 7). Every builder here uses the
Keras functional API and returns :class:`AutoencoderParts` ``(model, encoder, decoder)``:
three models over the *same* layer objects, so training ``model`` trains ``encoder`` and
``decoder`` too. ``model`` is flat, so every layer is found by name on it as on the parts.

**Input contract.** Dense autoencoders take flat float vectors of length ``input_dim``
with values in [0, 1]; convolutional ones take float images ``(H, W, C)`` in [0, 1]. The
reconstruction target is the input itself: ``model.fit(x, x)``. Turn the toolkit's uint8
images into that form once with :func:`prepare_inputs` (MNIST's 60000×784 float32 is
188 MB). Keeping scaling outside the model keeps target and input one array, and lets
PCA and the autoencoders be scored on exactly the same numbers.

**Layer names, by stage** (``hidden_units=(h1, ..., hn)``, ``h0`` = the input):

- encoder stage ``k`` maps ``h{k-1} → hk``: ``enc{k}_dense``, ``enc{k}_act`` (and
  ``enc{n}_sparsity`` on the code of a sparse autoencoder);
- decoder stage ``k`` mirrors it, ``hk → h{k-1}``: ``dec{k}_dense``, ``dec{k}_act``; the
  decoder runs ``dec{n} … dec1``, and ``dec1_act`` is the reconstruction;
- convolutional: ``enc{k}_conv``, ``enc{k}_act``, ``enc{k}_pool`` and
  ``dec{k}_convT``, ``dec{k}_act``; a denoising model's corruption is ``input_noise``.

Greedy pretraining (:mod:`toolkit.pretraining`) trains stage ``k`` as the shallow
autoencoder ``enc{k}_* → dec{k}_*``, found by these names.

**Compiled, with the loss the data calls for**: binary cross-entropy when the output is a
sigmoid (targets in [0, 1], i.e. pixels), mean squared error otherwise
(:func:`default_loss`), and no metrics (Keras 3.15 keeps reporting a compiled metric after a
recompile without it); :func:`reconstruction_error` gives the MSE that compares with PCA.

Example (slide 7: encode, then decode):
    >>> import numpy as np
    >>> parts = build_autoencoder(input_dim=6, code_units=2)
    >>> model, encoder, decoder = parts
    >>> x = np.random.default_rng(0).random((4, 6)).astype("float32")
    >>> tuple(encoder(x).shape), tuple(decoder(encoder(x)).shape)
    ((4, 2), (4, 6))
    >>> model.get_layer("enc1_dense") is encoder.get_layer("enc1_dense")
    True
"""

from dataclasses import dataclass

import keras
import numpy as np

from toolkit.activations import activation_label, get_activation
from toolkit.errors import ToolkitError, check_choice, check_int, check_number, check_positive_ints, check_shape
from toolkit.layers import DenseTranspose
from toolkit.regularizers import ActivityPenalty, sparsity_regularizer

NOISE_KINDS = ("gaussian", "dropout")
SPARSITY_KINDS = ("l1", "kl")


@dataclass
class AutoencoderParts:
    """The trainable autoencoder and its encoder and decoder, sharing the same layers.

    Unpacks like a tuple: ``model, encoder, decoder = parts``.
    """

    model: keras.Model
    encoder: keras.Model
    decoder: keras.Model

    def __iter__(self):
        return iter((self.model, self.encoder, self.decoder))

    @property
    def code_dim(self):
        """Width of the code (the encoder's output shape without the batch axis)."""
        return tuple(self.encoder.output.shape[1:])

    @classmethod
    def from_model(cls, model):
        """Rebuild encoder and decoder from a model this module built (e.g. after
        ``load_model``): the ``enc*`` layers in order make the encoder, the ``dec*`` layers
        the decoder; no weights are copied."""
        enc = [layer for layer in model.layers if layer.name.startswith("enc")]
        dec = [layer for layer in model.layers if layer.name.startswith("dec")]
        if not enc or not dec:
            raise ToolkitError(
                f"model {model.name!r} has no enc*/dec* layers; received layers "
                f"{[layer.name for layer in model.layers]}"
            )
        encoder = _chain_model(enc, tuple(model.input.shape[1:]), f"{model.name}_encoder", "encoder_input")
        decoder = _chain_model(dec, tuple(encoder.output.shape[1:]), f"{model.name}_decoder", "decoder_input")
        return cls(model, encoder, decoder)


# ---------------------------------------------------------------------------- helpers
def prepare_inputs(images, flatten=True, scale=1.0 / 255.0):
    """uint8 images ``(N, H, W[, C])`` → float32 in [0, 1], flattened to ``(N, H*W*C)``
    unless ``flatten=False``. The input *and* target of the autoencoders here.

    Example:
        >>> import numpy as np
        >>> prepare_inputs(np.full((2, 4, 4, 1), 255, np.uint8)).shape
        (2, 16)
    """
    x = np.asarray(images)
    if x.ndim < 2:
        raise ToolkitError(f"images must be an array (N, ...); received shape {x.shape}")
    x = x.astype("float32")
    if scale is not None:
        x *= np.float32(scale)
    return x.reshape(len(x), -1) if flatten else x


def default_loss(output_activation):
    """The reconstruction loss for an output activation: ``"binary_crossentropy"`` for a
    sigmoid (outputs and targets in [0, 1], as pixels), ``"mse"`` otherwise (slide 3:
    minimise the input/output error)."""
    label = activation_label(output_activation)
    return "binary_crossentropy" if label in ("sigmoid", "hard_sigmoid") else "mse"


def reconstruction_error(model, x, batch_size=256):
    """Mean squared error between ``x`` and ``model``'s reconstruction of it, over every
    entry (comparable with PCA's on the same array)."""
    model = model.model if isinstance(model, AutoencoderParts) else model
    x = np.asarray(x, dtype="float32")
    y = model.predict(x, batch_size=batch_size, verbose=0)
    return float(np.mean((y.reshape(x.shape) - x) ** 2))


def check_units(name, units):
    """``units`` as a tuple of positive ints, or ``ToolkitError`` echoing what was received."""
    return check_positive_ints(name, units)


def _chain(layers, x):
    for layer in layers:
        x = layer(x)
    return x


def _chain_model(layers, input_shape, name, input_name):
    inputs = keras.Input(shape=input_shape, name=input_name)
    return keras.Model(inputs, _chain(layers, inputs), name=name)


def _noise_layer(noise, noise_level):
    if noise is None:
        return None
    check_choice("noise", noise, NOISE_KINDS)
    if noise == "gaussian":
        stddev = check_number("gaussian noise_level (stddev)", noise_level, low=0, low_open=True)
        return keras.layers.GaussianNoise(stddev, name="input_noise")
    rate = check_number("dropout noise_level (rate)", noise_level, low=0, high=1, low_open=True, high_open=True)
    return keras.layers.Dropout(rate, name="input_noise")


def _assemble(
    input_shape,
    enc_layers,
    dec_layers,
    name,
    noise_layer=None,
    loss=None,
    output_activation="sigmoid",
    optimizer="adam",
):
    """Wire the layers into model, encoder and decoder (one set of layer objects)."""
    inputs = keras.Input(shape=input_shape, name="input")
    x = noise_layer(inputs) if noise_layer is not None else inputs
    model = keras.Model(inputs, _chain(dec_layers, _chain(enc_layers, x)), name=name)
    encoder = _chain_model(enc_layers, input_shape, f"{name}_encoder", "encoder_input")
    decoder = _chain_model(dec_layers, tuple(encoder.output.shape[1:]), f"{name}_decoder", "decoder_input")
    loss = loss or default_loss(output_activation)
    model.compile(optimizer=optimizer, loss=loss)
    return AutoencoderParts(model, encoder, decoder)


# ---------------------------------------------------------------------------- builders
def build_stacked_autoencoder(
    input_dim,
    hidden_units=(256, 64),
    activation="sigmoid",
    output_activation="sigmoid",
    code_activation=None,
    tied=False,
    code_regularizer=None,
    noise=None,
    noise_level=0.2,
    loss=None,
    optimizer="adam",
    name="stacked_autoencoder",
):
    """Stacked autoencoder ``input_dim → h1 → … → hn → … → h1 → input_dim`` (slide 8).

    The generic dense builder; :func:`build_autoencoder`, :func:`build_sparse_autoencoder`
    and :func:`build_denoising_autoencoder` are thin variants of it.

    Args:
        input_dim: width of the (flat, [0, 1]) input vector, e.g. 784 for MNIST.
        hidden_units: ``(h1, ..., hn)``; ``hn`` is the code. Slide 14: each is normally
            smaller than the one before (equal widths admit the identity map).
        activation: hidden activation, any spec of :func:`toolkit.activations.get_activation`.
        output_activation: of the reconstruction; sigmoid for [0, 1] pixels.
        code_activation: of the code layer ``enc{n}_act`` (default ``activation``; use
            ``"linear"`` for the Hinton & Salakhutdinov 784-1000-500-250-30 network).
        tied: decoder stage ``k`` uses the transpose of ``enc{k}_dense``'s kernel
            (:class:`toolkit.layers.DenseTranspose`), halving the weights.
        code_regularizer: a ``keras.regularizers.Regularizer`` on the code, attached as
            the ``enc{n}_sparsity`` layer (:class:`toolkit.regularizers.ActivityPenalty`).
        noise, noise_level: ``"gaussian"`` (stddev) or ``"dropout"`` (rate) corruption of
            the input while training (a denoising autoencoder); ``None`` for none.
        loss: default :func:`default_loss` of ``output_activation``.

    Example:
        >>> parts = build_stacked_autoencoder(784, (64, 16), tied=True)
        >>> [layer.name for layer in parts.decoder.layers[1:]]
        ['dec2_dense', 'dec2_act', 'dec1_dense', 'dec1_act']
        >>> parts.model.count_params()  # kernels 784*64 + 64*16, each stored once; 928 biases
        52128
    """
    input_dim = check_int("input_dim", input_dim, low=1)
    units = check_units("hidden_units", hidden_units)
    code_activation = activation if code_activation is None else code_activation
    noise_layer = _noise_layer(noise, noise_level)
    n = len(units)

    enc_layers, enc_dense = [], []
    for k, width in enumerate(units, start=1):
        dense = keras.layers.Dense(width, name=f"enc{k}_dense")
        enc_dense.append(dense)
        enc_layers += [dense, get_activation(code_activation if k == n else activation, name=f"enc{k}_act")]
    if code_regularizer is not None:
        enc_layers.append(ActivityPenalty(code_regularizer, name=f"enc{n}_sparsity"))

    widths = (input_dim,) + units
    dec_layers = []
    for k in range(n, 0, -1):
        if tied:
            dense = DenseTranspose(enc_dense[k - 1], name=f"dec{k}_dense")
        else:
            dense = keras.layers.Dense(widths[k - 1], name=f"dec{k}_dense")
        dec_layers += [dense, get_activation(output_activation if k == 1 else activation, name=f"dec{k}_act")]
    return _assemble((input_dim,), enc_layers, dec_layers, name, noise_layer, loss, output_activation, optimizer)


def build_autoencoder(
    input_dim, code_units=32, activation="sigmoid", output_activation="sigmoid", name="autoencoder", **kwargs
):
    """The lecture's autoencoder: visible → one hidden layer → visible (slides 2–7).

    ``code_units`` smaller than ``input_dim`` forces compression (slides 4–6). Other
    arguments as :func:`build_stacked_autoencoder`.

    Example:
        >>> model, encoder, decoder = build_autoencoder(784, code_units=30)
        >>> model.loss, tuple(encoder.output.shape)
        ('binary_crossentropy', (None, 30))
    """
    return build_stacked_autoencoder(
        input_dim, (code_units,), activation=activation, output_activation=output_activation, name=name, **kwargs
    )


def build_sparse_autoencoder(
    input_dim,
    hidden_units=(1000,),
    sparsity="kl",
    rho=0.05,
    beta=1.0,
    l1=1e-3,
    activation="sigmoid",
    name="sparse_autoencoder",
    **kwargs,
):
    """Sparse autoencoder (slide 15): the code may be wider than the input (over-complete)
    because a penalty keeps most code units quiet.

    ``sparsity="kl"``: ``beta * sum_j KL(rho || rho_hat_j)`` (needs a sigmoid code);
    ``"l1"``: ``l1 * mean_batch sum_units |h|``. Both batch-size independent (see
    :mod:`toolkit.regularizers`). Measure the result with
    :func:`toolkit.regularizers.sparsity_stats` on ``encoder.predict(x)``.

    Example:
        >>> parts = build_sparse_autoencoder(16, hidden_units=(32,), rho=0.1)
        >>> parts.model.get_layer("enc1_sparsity").regularizer.rho
        0.1
    """
    check_choice("sparsity", sparsity, SPARSITY_KINDS)
    code_activation = kwargs.get("code_activation") or activation
    if sparsity == "kl" and activation_label(code_activation) not in ("sigmoid", "hard_sigmoid"):
        raise ToolkitError(
            f"KL sparsity needs code activations in [0, 1] (sigmoid); received activation "
            f"{activation_label(code_activation)!r}; use sparsity='l1' for other activations"
        )
    regularizer = sparsity_regularizer(sparsity, l1=l1, rho=rho, beta=beta)
    return build_stacked_autoencoder(
        input_dim, hidden_units, activation=activation, code_regularizer=regularizer, name=name, **kwargs
    )


def build_denoising_autoencoder(
    input_shape,
    hidden_units=(256, 64),
    noise="gaussian",
    noise_level=0.3,
    convolutional=False,
    name="denoising_autoencoder",
    **kwargs,
):
    """Denoising autoencoder: corrupt the input while training, reconstruct the clean one.

    ``noise="gaussian"`` adds N(0, ``noise_level``²) noise, ``"dropout"`` zeroes a fraction
    ``noise_level`` of inputs (``input_noise`` layer, inactive at inference). Train with
    ``model.fit(x, x)``: the corruption is inside the model, the target stays clean. Dense
    by default (``input_shape`` an int); ``convolutional=True`` builds
    :func:`build_conv_autoencoder` with ``hidden_units`` as its filters.

    Example:
        >>> parts = build_denoising_autoencoder(784, (64,), noise="dropout", noise_level=0.25)
        >>> parts.model.get_layer("input_noise").rate
        0.25
    """
    if convolutional:
        return build_conv_autoencoder(
            input_shape, filters=hidden_units, noise=noise, noise_level=noise_level, name=name, **kwargs
        )
    if noise is None:
        raise ToolkitError(f"a denoising autoencoder needs noise; received None; valid: {', '.join(NOISE_KINDS)}")
    return build_stacked_autoencoder(
        input_shape, hidden_units, noise=noise, noise_level=noise_level, name=name, **kwargs
    )


def build_conv_autoencoder(
    input_shape=(28, 28, 1),
    filters=(16, 32),
    kernel_size=3,
    activation="relu",
    output_activation="sigmoid",
    code_units=None,
    noise=None,
    noise_level=0.2,
    loss=None,
    optimizer="adam",
    name="conv_autoencoder",
):
    """Convolutional autoencoder (slides 8 and 49): conv/pool encoder, transposed-conv decoder.

    Encoder stage ``k``: ``enc{k}_conv`` (``filters[k-1]``, same padding), ``enc{k}_act``,
    ``enc{k}_pool`` (2×2 max). Decoder stage ``k`` mirrors it with ``dec{k}_convT``
    (stride 2) and ``dec{k}_act``; ``dec1`` restores the input's channels with
    ``output_activation``. ``code_units`` adds a dense code ``enc{n+1}_flatten/_dense/_act``
    (decoder ``dec{n+1}_dense/_act/_reshape``). Height and width must be divisible by
    ``2 ** len(filters)``. Inputs are float images in [0, 1] (:func:`prepare_inputs` with
    ``flatten=False``).

    Example:
        >>> parts = build_conv_autoencoder((28, 28, 1), filters=(8, 4))
        >>> tuple(parts.encoder.output.shape), tuple(parts.model.output.shape)
        ((None, 7, 7, 4), (None, 28, 28, 1))
    """
    shape = check_shape("input_shape", input_shape, axes=("height", "width", "channels"))
    filters = check_units("filters", filters)
    kernel_size = check_int("kernel_size", kernel_size, low=1)
    n = len(filters)
    if shape[0] % 2**n or shape[1] % 2**n:
        raise ToolkitError(
            f"input height and width must be divisible by 2**len(filters) = {2**n}; received "
            f"input_shape {shape} with filters {filters}"
        )
    noise_layer = _noise_layer(noise, noise_level)

    enc_layers = []
    for k, f in enumerate(filters, start=1):
        enc_layers += [
            keras.layers.Conv2D(f, kernel_size, padding="same", name=f"enc{k}_conv"),
            get_activation(activation, name=f"enc{k}_act"),
            keras.layers.MaxPooling2D(2, name=f"enc{k}_pool"),
        ]
    dec_layers = []
    if code_units is not None:
        code_units = check_int("code_units", code_units, low=1)
        grid = (shape[0] // 2**n, shape[1] // 2**n, filters[-1])
        enc_layers += [
            keras.layers.Flatten(name=f"enc{n + 1}_flatten"),
            keras.layers.Dense(code_units, name=f"enc{n + 1}_dense"),
            get_activation(activation, name=f"enc{n + 1}_act"),
        ]
        dec_layers += [
            keras.layers.Dense(int(np.prod(grid)), name=f"dec{n + 1}_dense"),
            get_activation(activation, name=f"dec{n + 1}_act"),
            keras.layers.Reshape(grid, name=f"dec{n + 1}_reshape"),
        ]
    channels = (shape[2],) + filters
    for k in range(n, 0, -1):
        dec_layers += [
            keras.layers.Conv2DTranspose(channels[k - 1], kernel_size, strides=2, padding="same", name=f"dec{k}_convT"),
            get_activation(output_activation if k == 1 else activation, name=f"dec{k}_act"),
        ]
    return _assemble(shape, enc_layers, dec_layers, name, noise_layer, loss, output_activation, optimizer)
