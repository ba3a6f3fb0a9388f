"""Batches of in-memory arrays in a new order every epoch, on TensorFlow.

Written by hand because of a Keras 3.15 behaviour: its array adapter on TensorFlow draws each
epoch's permutation with ``tf.random.shuffle`` inside a ``tf.data`` map, and once a global seed
is set (every toolkit run sets one, for reproducibility) each epoch's fresh iterator replays
the same op seed, so **every epoch visits the batches in the same order** (measured: the first
labels of the first batches were identical in every epoch). SGD then sees a fixed sequence of
mini-batches, which is not what ``shuffle=True`` promises (slides 17-18: stochastic gradient
descent over random mini-batches). The JAX and torch backends shuffle with NumPy's reseeded
global generator and are not affected, so this module does nothing there.

:func:`epoch_shuffled` builds the same pipeline Keras builds (a permutation, batched indices,
``tf.gather`` from the arrays held once), but the permutation is stateless, seeded by
``(seed, epoch)``: a new order every epoch, the same order for the same seed, and the same
order for epoch k whether a run went straight through or was resumed at k.
"""

import numpy as np

__all__ = ["epoch_shuffled", "EpochShuffled", "fit_inputs"]


class EpochShuffled:
    """What :func:`epoch_shuffled` returns: ``dataset`` (pass it as ``x`` to ``fit``, no ``y``
    and no ``batch_size``) and ``callback`` (pass it to ``fit``: it tells the dataset which
    epoch is starting)."""

    def __init__(self, dataset, callback, num_batches):
        self.dataset, self.callback, self.num_batches = dataset, callback, num_batches


def epoch_shuffled(arrays, batch_size, seed=None):
    """Per-epoch shuffled batches of ``arrays`` (a tuple such as ``(x, y)`` or
    ``(x, y, sample_weight)``, equal first dimensions) for ``model.fit`` on TensorFlow.

    Returns an :class:`EpochShuffled`, or ``None`` on other backends (their own shuffle is
    already per epoch; pass the arrays to ``fit`` as usual). ``seed=None`` draws one from
    NumPy's global generator, so a seeded program stays reproducible. The last batch may be
    smaller, as in Keras.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    arrays = tuple(np.asarray(a) for a in arrays)
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"arrays must have equal lengths; received {[len(a) for a in arrays]}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; received {batch_size!r}")
    if seed is None:
        seed = int(np.random.randint(0, 2**31 - 1))
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="shuffle_epoch")
    seed_pair = tf.constant([int(seed), 0], dtype=tf.int64)
    full = n // batch_size
    rest = n - full * batch_size

    def permutation(_):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=seed_pair + tf.stack([tf.constant(0, tf.int64), epoch])
        )
        batches = tf.data.Dataset.from_tensor_slices(tf.reshape(order[: full * batch_size], [full, batch_size]))
        if rest:
            batches = batches.concatenate(tf.data.Dataset.from_tensors(order[full * batch_size :]))
        return batches

    num_batches = full + (1 if rest else 0)
    indices = tf.data.Dataset.range(1).flat_map(permutation)
    indices = indices.apply(tf.data.experimental.assert_cardinality(num_batches))
    # converted once, as Keras does; an array passed twice (an autoencoder's (x, x)) is held once
    tensors = {}
    for a in arrays:
        if id(a) not in tensors:
            tensors[id(a)] = tf.convert_to_tensor(a)
    held = tuple(tensors[id(a)] for a in arrays)
    data = tf.data.Dataset.from_tensors(held).repeat()
    dataset = tf.data.Dataset.zip((indices, data)).map(
        lambda i, tensors: tuple(tf.gather(t, i, axis=0) for t in tensors), num_parallel_calls=tf.data.AUTOTUNE
    )
    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False  # as Keras: no graph rewrite cost
    options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.IGNORE
    dataset = dataset.with_options(options).prefetch(tf.data.AUTOTUNE)

    class _SetEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, index, logs=None):
            epoch.assign(int(index))

    return EpochShuffled(dataset, _SetEpoch(), num_batches)


def fit_inputs(x, y, batch_size, seed=None, shuffle=True, sample_weight=None, validation_split=0.0):
    """The input arguments for ``model.fit`` and the callbacks that go with them:
    ``model.fit(**inputs, callbacks=[*extra, ...], ...)``.

    Arrays to be shuffled on TensorFlow become an :func:`epoch_shuffled` dataset (and its
    epoch callback); everything else — other backends, ``shuffle`` other than True, a
    ``validation_split`` (Keras splits arrays only), no ``y``, non-array inputs — is passed
    to ``fit`` as given, with no extra callbacks.
    """
    inputs = {"x": x, "y": y, "batch_size": batch_size, "shuffle": shuffle}
    if sample_weight is not None:
        inputs["sample_weight"] = sample_weight
    if validation_split:
        inputs["validation_split"] = validation_split
    arrays = [a for a in (x, y, sample_weight) if a is not None]
    if shuffle is not True or validation_split or y is None or not all(isinstance(a, np.ndarray) for a in arrays):
        return inputs, []
    feed = epoch_shuffled(tuple(arrays), batch_size, seed=seed)
    if feed is None:
        return inputs, []
    return {"x": feed.dataset, "shuffle": False}, [feed.callback]  # shuffle=False: the feed shuffles
