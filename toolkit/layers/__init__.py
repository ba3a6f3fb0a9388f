"""The toolkit's custom Keras layers, all registered for ``.keras`` serialization.

Importing this package registers every layer under the ``toolkit`` package name, so a
saved model reloads with ``toolkit.saving.load_model(path)`` (or ``import toolkit.layers``
then ``keras.saving.load_model``) and no ``custom_objects``.
"""

from toolkit.layers.activation_layers import PReLU, RReLU
from toolkit.layers.augment import RandomShear, RandomShiftCrop
from toolkit.layers.tied import Conv2DTransposeTied, DenseTranspose

__all__ = ["Conv2DTransposeTied", "DenseTranspose", "PReLU", "RReLU", "RandomShear", "RandomShiftCrop"]
