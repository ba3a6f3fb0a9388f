"""Keras callbacks of the toolkit: greedy layer-wise pretraining on any model (slides 9–19).

- :class:`GreedyPretraining`: add it to ``model.fit(x, y, callbacks=[...])`` of your own
  ``keras.Sequential`` or functional classifier (or autoencoder). Before the first epoch it
  pretrains the model's trunk greedily, one shallow autoencoder per ``Dense``/``Conv2D``
  layer of the model itself (slides 10–14), then ``fit`` goes on and fine-tunes the whole
  model (slides 16–19). Nothing is copied: the stages train the model's own layer objects.
- :class:`StageCallback`: a ``keras.callbacks.Callback`` that also hears
  ``on_stage_begin(stage, info)`` and ``on_stage_end(stage, info, history)``; inside a
  pretraining it receives every stage fit's ordinary epoch and batch events too.

:func:`toolkit.pretraining.pretrain_greedy` is the same pretraining as a function call; both
run :func:`toolkit.pretraining.greedy_pretrain_model`, whose docstring says how the trunk is
found and how each stage is built.

Example (a user's own Sequential MLP):
    >>> import keras, numpy as np
    >>> x = np.random.default_rng(0).random((64, 12)).astype("float32")
    >>> y = np.arange(64) % 3
    >>> dense = keras.layers.Dense
    >>> model = keras.Sequential([keras.Input((12,)), dense(8, activation="sigmoid"),
    ...                           dense(4, activation="sigmoid"), dense(3, activation="softmax")])
    >>> model.compile("adam", "sparse_categorical_crossentropy")
    >>> pretraining = GreedyPretraining(x, epochs_per_stage=1, verbose=0)
    >>> _ = model.fit(x, y, epochs=1, verbose=0, callbacks=[pretraining])
    >>> [str(info) for info in pretraining.result.stages]
    ['stage 1/2: 12 → 8', 'stage 2/2: 8 → 4']
"""

import keras

from toolkit.errors import ToolkitError, check_choice, check_int, check_number

NOISE_KINDS = ("gaussian", "dropout")
SPARSITY_KINDS = ("l1", "kl")


class StageCallback(keras.callbacks.Callback):
    """A Keras callback that also hears the stages of a greedy pretraining.

    Override what you need; every stage calls both, ``stage`` is 1-based and ``info`` a
    :class:`toolkit.pretraining.StageInfo` (``str(info)`` is ``"stage 2/4: 1000 → 500"``).
    During a stage ``self.model`` is that stage's shallow autoencoder, and the ordinary
    ``on_epoch_*``/``on_train_batch_*`` events of its ``fit`` arrive as for any callback.
    """

    def on_stage_begin(self, stage, info):
        pass

    def on_stage_end(self, stage, info, history):
        pass


def check_stage_options(noise=None, noise_level=0.2, sparsity=None, rho=0.05, beta=1.0, l1=1e-3, tied=False):
    """The stage options of a greedy pretraining, checked (one-line ``ToolkitError``s)."""
    if noise is not None:
        check_choice("noise", noise, NOISE_KINDS)
        if noise == "gaussian":
            check_number("gaussian noise_level (stddev)", noise_level, low=0, low_open=True)
        else:
            check_number("dropout noise_level (rate)", noise_level, low=0, high=1, low_open=True, high_open=True)
    if sparsity is not None:
        check_choice("sparsity", sparsity, SPARSITY_KINDS)
        check_number("rho", rho, low=0, high=1, low_open=True, high_open=True)
        check_number("beta", beta, low=0)
        check_number("l1", l1, low=0)
    if not isinstance(tied, bool):
        raise ToolkitError(f"tied must be True or False; received {tied!r}")
    return dict(noise=noise, noise_level=noise_level, sparsity=sparsity, rho=rho, beta=beta, l1=l1, tied=tied)


class GreedyPretraining(keras.callbacks.Callback):
    """Greedy layer-wise pretraining of the fitted model's trunk before its first epoch.

    Args:
        x_unlabeled: the inputs to pretrain on (labels are not needed; often many more
            images than the labelled ``x`` of ``fit``), shaped like the model's input.
        epochs_per_stage: an int, or one int per stage.
        batch_size: of every stage's fit and of computing each stage's inputs.
        optimizer: name or instance; each stage gets a fresh copy.
        layers: names of the trunk layers to pretrain, in order (``Dense``/``Conv2D``);
            default: found from the model (every one before the head, or the encoder half
            of an autoencoder).
        noise, noise_level: ``"gaussian"`` (stddev) or ``"dropout"`` (rate) corruption of
            every stage's input while it trains: stacked *denoising* autoencoders
            (Vincent et al. 2010); the reconstruction target stays clean.
        sparsity, rho, beta, l1: a sparsity penalty on every stage's code (slide 15):
            ``"kl"`` (needs sigmoid codes) or ``"l1"``, as
            :func:`toolkit.autoencoders.build_sparse_autoencoder`.
        tied: each stage's decoder uses the transpose of the layer's own kernel.
        callbacks: Keras callbacks given to every stage's ``fit``; :class:`StageCallback`
            ones hear the stage events too.
        validation_data: optional ``x_val``; its stage inputs are computed like ``x``'s.
        verbose: 0 silent; 1 stage lines and one line per epoch; 2 Keras progress bars.

    It pretrains once: a second ``fit`` with the same callback, or a run resumed from a
    checkpoint (it is a *stateful* callback: ``get_state``/``set_state``), does not
    pretrain again. ``result`` holds the :class:`toolkit.pretraining.PretrainResult`.
    A model it cannot pretrain raises a one-line ``ToolkitError`` naming the layer and why.
    """

    def __init__(
        self,
        x_unlabeled,
        epochs_per_stage=1,
        batch_size=128,
        optimizer="adam",
        layers=None,
        noise=None,
        noise_level=0.2,
        sparsity=None,
        rho=0.05,
        beta=1.0,
        l1=1e-3,
        tied=False,
        callbacks=(),
        validation_data=None,
        verbose=1,
    ):
        super().__init__()
        self.x_unlabeled = x_unlabeled
        self.epochs_per_stage = epochs_per_stage
        self.batch_size = check_int("batch_size", batch_size, low=1)
        self.optimizer = optimizer
        self.layers = None if layers is None else tuple(layers)
        self.options = check_stage_options(noise, noise_level, sparsity, rho, beta, l1, tied)
        self.stage_callbacks = list(callbacks)
        self.validation_data = validation_data
        self.verbose = check_int("verbose", verbose, low=0, high=2, expected="0, 1 or 2")
        self.done = False
        self.histories = []
        self.result = None

    def on_train_begin(self, logs=None):
        if self.done:
            return
        from toolkit.pretraining import greedy_pretrain_model

        self.result = greedy_pretrain_model(
            self.model,
            self.x_unlabeled,
            epochs=self.epochs_per_stage,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            callbacks=self.stage_callbacks,
            validation_data=self.validation_data,
            verbose=self.verbose,
            layers=self.layers,
            **self.options,
        )
        self.histories = [{k: [float(v) for v in vals] for k, vals in h.items()} for h in self.result.histories]
        self.done = True

    # a stateful callback (toolkit.runs.training): a resumed run does not pretrain again
    def get_state(self):
        return {"done": self.done, "histories": self.histories}

    def set_state(self, state):
        state = state or {}
        self.done = bool(state.get("done", False))
        self.histories = list(state.get("histories", []))


__all__ = ["GreedyPretraining", "StageCallback", "check_stage_options"]
