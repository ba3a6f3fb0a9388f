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

:class:`ShardedEpochs` feeds data-parallel training (:mod:`toolkit.parallel`): several
processes, or a TensorFlow strategy. Every process draws the same per-epoch permutation
(NumPy, seeded by ``(seed, epoch)``), cuts it into the global batches and reads only its own
part of each, so the processes together train on exactly the batches one process would.
"""

import numpy as np

__all__ = ["epoch_shuffled", "EpochShuffled", "ShardedEpochs", "fit_inputs"]


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


class ShardedEpochs:
    """One process's part of every epoch's batches of ``arrays``.

    The epoch's permutation of the ``n`` rows (the same on every process: NumPy seeded by
    ``(seed, epoch)``) is cut into global batches of ``batch_size`` (the last may be
    smaller); each global batch into ``shards`` equal parts, one per process, and this
    process's part (``shard``) into ``pieces`` equal batches, one per local replica, fed one
    after another (a TensorFlow strategy takes them in turn). Every part must divide evenly
    (:func:`toolkit.parallel.check_batches` says so first).

    ``callback`` tells the feed which epoch starts; ``rows_read[epoch]`` counts the distinct
    rows this process read in that epoch (reads before the first epoch starts, Keras's peek
    at the shapes, are not counted).
    """

    def __init__(self, arrays, batch_size, seed, shards=1, shard=0, pieces=1):
        import keras

        self.arrays = tuple(np.asarray(a) for a in arrays)
        self.n = len(self.arrays[0])
        if any(len(a) != self.n for a in self.arrays):
            raise ValueError(f"arrays must have equal lengths; received {[len(a) for a in self.arrays]}")
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.shards, self.shard, self.pieces = int(shards), int(shard), int(pieces)
        self.num_batches = -(-self.n // self.batch_size)
        self.epoch = 0
        self.started = False  # reads before the first epoch are Keras's peeks at the shapes
        self.rows_read = {}
        self._order = (None, None)  # (epoch, its permutation): drawn once per epoch
        feed = self

        class _SetEpoch(keras.callbacks.Callback):
            def on_epoch_begin(self, index, logs=None):
                feed.epoch, feed.started = int(index), True

        self.callback = _SetEpoch()
        self.callback.feed = self

    def order(self, epoch):
        """The epoch's permutation of the rows (every process draws the same); drawn once
        per epoch, not once per batch."""
        epoch = int(epoch)
        if self._order[0] != epoch:
            self._order = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n))
        return self._order[1]

    def part(self, step, epoch=None):
        """The row indices this process reads in global batch ``step`` of ``epoch``."""
        epoch = self.epoch if epoch is None else epoch
        batch = self.order(epoch)[step * self.batch_size : (step + 1) * self.batch_size]
        size = len(batch) // self.shards
        return batch[self.shard * size : (self.shard + 1) * size]

    def read(self, step):
        """This process's pieces of global batch ``step`` of the current epoch, as tuples of
        arrays; counted in :attr:`rows_read`."""
        rows = self.part(step)
        if self.started:
            seen = self.rows_read.setdefault(self.epoch, np.zeros(self.n, dtype=bool))
            seen[rows] = True
        return [tuple(a[piece] for a in self.arrays) for piece in np.split(rows, self.pieces)]

    def counts(self):
        """``{epoch: rows read}`` (1-based epochs)."""
        return {epoch + 1: int(mask.sum()) for epoch, mask in sorted(self.rows_read.items())}

    def keras_input(self):
        """What ``fit`` takes as ``x``: a ``keras.utils.PyDataset`` on JAX (Keras spreads each
        process's part over its local devices), a strategy-made dataset on TensorFlow."""
        import keras

        from toolkit import parallel

        feed = self
        if keras.backend.backend() != "tensorflow":

            class Feed(keras.utils.PyDataset):
                def __len__(self):
                    return feed.num_batches

                def __getitem__(self, step):
                    (piece,) = feed.read(step)
                    return piece

            return Feed()
        import tensorflow as tf

        def pieces():
            for step in range(feed.num_batches):
                yield from feed.read(step)

        signature = tuple(tf.TensorSpec((None, *a.shape[1:]), tf.as_dtype(a.dtype)) for a in self.arrays)
        dataset = tf.data.Dataset.from_generator(pieces, output_signature=signature)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(self.num_batches * self.pieces))
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return parallel.distribute_feed(dataset.with_options(options))


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
    plain = shuffle is not True or validation_split or y is None or not all(isinstance(a, np.ndarray) for a in arrays)
    from toolkit import parallel

    if arrays and hasattr(arrays[0], "__len__"):
        parallel.check_batches(len(arrays[0]), batch_size)  # every global batch splits evenly
    par = parallel.current()
    if par.sharded_feed:
        if plain:
            raise ValueError(
                "data-parallel training feeds (x, y[, sample_weight]) NumPy arrays, shuffled; "
                f"received x={type(x).__name__}, y={type(y).__name__}, shuffle={shuffle!r}, "
                f"validation_split={validation_split!r} (pass validation_data instead)"
            )
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        feed = ShardedEpochs(arrays, batch_size, seed, par.processes, par.process_id, parallel.replicas_per_process())
        return {"x": feed.keras_input(), "shuffle": False}, [feed.callback]
    if plain:
        return inputs, []
    feed = epoch_shuffled(tuple(arrays), batch_size, seed=seed)
    if feed is None:
        return inputs, []
    return {"x": feed.dataset, "shuffle": False}, [feed.callback]  # shuffle=False: the feed shuffles


def report_rows_read(label, callbacks):
    """In a multi-process run, print how many training rows this process read per epoch
    (counted by the :class:`ShardedEpochs` feed among ``callbacks``, the extra callbacks of
    :func:`fit_inputs`): ``[label] process 1 of 2 read epoch 1: 3000, ... (of 6000 rows)``.
    Returns the lines printed."""
    from toolkit import parallel

    par = parallel.current()
    lines = []
    for feed in (getattr(cb, "feed", None) for cb in callbacks):
        if feed is not None and par.multi_process:
            counts = ", ".join(f"epoch {e}: {c}" for e, c in feed.counts().items())
            lines.append(f"[{label}] process {par.process_id} of {par.processes} read {counts} (of {feed.n} rows)")
            print(lines[-1], flush=True)
    return lines
