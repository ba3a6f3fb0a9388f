"""A decoder layer whose weights are the transpose of an encoder layer's (slide 8).

Tied weights halve a stacked autoencoder's parameters: decoder layer ``k`` computes
``h @ W_k.T + b'_k`` with the *same* variable ``W_k`` as encoder layer ``k`` (and its own
bias ``b'_k``). Training either layer trains the shared kernel.

How it survives ``.keras`` saving: :class:`DenseTranspose` keeps a reference to its
encoder ``Dense`` layer and serializes it with ``keras.saving.serialize_keras_object``.
Keras saves and loads a model inside an object-sharing scope, so the encoder layer, met
twice (as a layer of the model and inside this layer's config), is written once with a
``shared_object_id`` and rebuilt as *one* object: after loading, the tie still holds (no
weight copying, and the kernel is stored once in the weights file).
"""

import keras
from keras import ops

from toolkit.errors import ToolkitError


class _Tied(keras.layers.Layer):
    """What a tied decoder layer shares: the encoder layer it ties to (checked to be of
    ``TIED_TO``'s type, rebuilt from its config on load), its own optional bias, and the config
    that serializes the encoder layer by reference (see the module docstring)."""

    TIED_TO = keras.layers.Layer

    def __init__(self, tied_to, use_bias=True, bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if isinstance(tied_to, dict):
            tied_to = keras.saving.deserialize_keras_object(tied_to)
        if not isinstance(tied_to, self.TIED_TO):
            raise ToolkitError(
                f"{type(self).__name__} ties to a keras.layers.{self.TIED_TO.__name__}; received {tied_to!r}"
            )
        self.tied_to = tied_to
        self.use_bias = bool(use_bias)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "tied_to": keras.saving.serialize_keras_object(self.tied_to),
                "use_bias": self.use_bias,
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="toolkit")
class DenseTranspose(_Tied):
    """Dense layer using ``tied_to.kernel`` transposed, plus its own bias (slide 8).

    Args:
        tied_to: the encoder ``keras.layers.Dense`` (kernel ``(n_in, n_out)``); this layer
            maps ``n_out`` features back to ``n_in``.
        use_bias: add a bias of its own (not tied).
        bias_initializer: initializer of that bias.

    Example:
        >>> import numpy as np, keras
        >>> enc = keras.layers.Dense(3, name="enc1_dense")
        >>> h = enc(np.ones((2, 5), "float32"))
        >>> dec = DenseTranspose(enc, name="dec1_dense")
        >>> tuple(dec(h).shape), dec.tied_to.kernel is enc.kernel
        ((2, 5), True)
        >>> [w.path for w in dec.weights]  # its own bias, then the encoder's (shared) weights
        ['dec1_dense/bias', 'enc1_dense/kernel', 'enc1_dense/bias']
    """

    TIED_TO = keras.layers.Dense

    @property
    def units(self):
        """Output width: the tied layer's input width (known once it is built)."""
        return None if not self.tied_to.built else int(self.tied_to.kernel.shape[0])

    def build(self, input_shape):
        if not self.tied_to.built:
            raise ToolkitError(
                f"DenseTranspose {self.name!r}: call its encoder layer {self.tied_to.name!r} first "
                "(the tied kernel does not exist yet)"
            )
        if input_shape[-1] is not None and input_shape[-1] != self.tied_to.units:
            raise ToolkitError(
                f"DenseTranspose {self.name!r} expects {self.tied_to.units} input features "
                f"(the units of {self.tied_to.name!r}); received shape {tuple(input_shape)}"
            )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.units,), initializer=self.bias_initializer)

    def call(self, inputs):
        kernel = ops.cast(self.tied_to.kernel, inputs.dtype)
        outputs = ops.matmul(inputs, ops.transpose(kernel))
        if self.bias is not None:
            outputs = ops.add(outputs, ops.cast(self.bias, inputs.dtype))
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)


@keras.saving.register_keras_serializable(package="toolkit")
class Conv2DTransposeTied(_Tied):
    """The transpose of a ``Conv2D`` with the *same* kernel variable, plus its own bias.

    A ``Conv2D`` kernel ``(kh, kw, C_in, F)`` is exactly the kernel a transposed
    convolution from ``F`` back to ``C_in`` channels takes, so the decoder of a tied
    convolutional stage computes ``conv_transpose(h, W)`` with the encoder's ``W`` (same
    strides, padding and dilation). Saved like :class:`DenseTranspose`.

    Example:
        >>> import numpy as np, keras
        >>> conv = keras.layers.Conv2D(4, 3, padding="same", name="enc1_conv")
        >>> h = conv(np.ones((1, 6, 6, 2), "float32"))
        >>> dec = Conv2DTransposeTied(conv)
        >>> tuple(dec(h).shape), len(dec.trainable_weights)  # its bias, the shared kernel and bias
        ((1, 6, 6, 2), 3)
    """

    TIED_TO = keras.layers.Conv2D

    def build(self, input_shape):
        if not self.tied_to.built:
            raise ToolkitError(
                f"Conv2DTransposeTied {self.name!r}: call its encoder layer {self.tied_to.name!r} first "
                "(the tied kernel does not exist yet)"
            )
        channels = int(self.tied_to.kernel.shape[2])
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(channels,), initializer=self.bias_initializer)

    def call(self, inputs):
        conv = self.tied_to
        outputs = ops.conv_transpose(
            inputs,
            ops.cast(conv.kernel, inputs.dtype),
            strides=conv.strides,
            padding=conv.padding,
            data_format=conv.data_format,
            dilation_rate=conv.dilation_rate,
        )
        if self.bias is not None:
            outputs = ops.add(outputs, ops.cast(self.bias, inputs.dtype))
        return outputs
