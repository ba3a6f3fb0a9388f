"""Fine-tuning with a head (slides 16–19): :func:`attach_head` wraps the (pretrained)
encoder *object* with an output layer, :func:`fine_tune` trains end to end."""

import keras

from toolkit.activations import get_activation
from toolkit.data.pipeline import fit_inputs, report_rows_read
from toolkit.devices import build_before_fit
from toolkit.errors import ToolkitError, check_choice, check_int
from toolkit.pretraining.greedy import _fresh_optimizer

TASKS = ("multiclass", "binary", "multilabel", "regression")
_HEAD_ACTIVATION = {"multiclass": "softmax", "binary": "sigmoid", "multilabel": "sigmoid", "regression": "linear"}


# ---------------------------------------------------------------------------- fine-tuning
def head_loss(task):
    """The loss of a head (slide 18): sparse categorical cross-entropy (integer labels) for
    ``"multiclass"``, binary cross-entropy for ``"binary"``/``"multilabel"``, MSE for
    ``"regression"``."""
    check_choice("task", task, TASKS)
    return {
        "multiclass": "sparse_categorical_crossentropy",
        "binary": "binary_crossentropy",
        "multilabel": "binary_crossentropy",
        "regression": "mse",
    }[task]


def _head_metrics(task):
    return {
        "multiclass": ["accuracy"],
        "binary": ["accuracy"],
        "multilabel": ["binary_accuracy"],
        "regression": ["mae"],
    }[task]


def _task_of(model):
    try:
        act = model.get_layer("head_act")
    except ValueError:
        raise ToolkitError(f"model {model.name!r} has no 'head_act' layer; build it with attach_head") from None
    name = getattr(getattr(act, "activation", None), "__name__", "linear")
    if name == "sigmoid":  # one sigmoid is a binary head, several a multilabel one (binary_accuracy per label)
        return "binary" if int(model.get_layer("head_dense").units) == 1 else "multilabel"
    return {"softmax": "multiclass"}.get(name, "regression")


def attach_head(encoder, num_outputs, task="multiclass", name=None, optimizer="adam"):
    """Model ``input → encoder → head`` (slide 18), reusing the ``encoder`` object itself.

    The head is ``head_dense`` (``num_outputs`` units) and ``head_act``: softmax for
    ``"multiclass"``, sigmoid for ``"binary"`` and ``"multilabel"``, linear for
    ``"regression"``. Compiled with :func:`head_loss`; :func:`fine_tune` recompiles.
    The encoder is a layer of the returned model (composition, not weight copying), so
    training the model trains the pretrained encoder.

    Example:
        >>> from toolkit.autoencoders import build_stacked_autoencoder
        >>> parts = build_stacked_autoencoder(20, (8, 4))
        >>> model = attach_head(parts.encoder, 1, task="regression")
        >>> [layer.name for layer in model.layers]
        ['input', 'stacked_autoencoder_encoder', 'head_dense', 'head_act']
    """
    check_choice("task", task, TASKS)
    num_outputs = check_int("num_outputs", num_outputs, low=1)
    if task == "binary" and num_outputs != 1:
        raise ToolkitError(
            f"a binary head has 1 output; received num_outputs={num_outputs}; "
            "use task='multilabel' for several independent labels"
        )
    if not isinstance(encoder, keras.Model):
        raise ToolkitError(f"encoder must be a keras.Model; received {type(encoder).__name__}")
    inputs = keras.Input(shape=tuple(encoder.input.shape[1:]), name="input")
    features = encoder(inputs)
    if len(features.shape) > 2:
        features = keras.layers.Flatten(name="head_flatten")(features)
    outputs = keras.layers.Dense(num_outputs, name="head_dense")(features)
    outputs = get_activation(_HEAD_ACTIVATION[task], name="head_act")(outputs)
    model = keras.Model(inputs, outputs, name=name or f"{encoder.name}_{task}")
    model.compile(optimizer=_fresh_optimizer(optimizer), loss=head_loss(task), metrics=_head_metrics(task))
    return model


def fine_tune(
    model,
    encoder,
    x,
    y,
    epochs=10,
    frozen_epochs=0,
    batch_size=128,
    optimizer="adam",
    loss=None,
    metrics=None,
    validation_data=None,
    callbacks=(),
    verbose=0,
):
    """Train ``model`` (from :func:`attach_head`) end to end (slides 16–19).

    For the first ``frozen_epochs`` of ``epochs`` the ``encoder`` is frozen and only the
    head learns; then the encoder is unfrozen and the model **recompiled** (Keras reads
    ``trainable`` at compile time) and training goes on to ``epochs`` in total (epochs are
    numbered continuously, so ``CSVLogger`` and friends see one run). The encoder ends
    trainable. ``loss``/``metrics`` default to the head's (:func:`head_loss`).

    A multilabel head (several sigmoid outputs) is scored with ``binary_accuracy``, the
    fraction of labels right; Keras's ``"accuracy"`` would compare argmaxes there.

    Returns a ``keras.callbacks.History`` whose ``history`` holds every epoch, frozen
    ones first (as ``model.fit`` returns one).

    Example:
        >>> import numpy as np
        >>> from toolkit.autoencoders import build_autoencoder
        >>> parts = build_autoencoder(6, code_units=3)
        >>> model = attach_head(parts.encoder, 2)
        >>> x, y = np.random.rand(8, 6).astype("float32"), np.arange(8) % 2
        >>> history = fine_tune(model, parts.encoder, x, y, epochs=2, frozen_epochs=1)
        >>> type(history).__name__, len(history.history["loss"]), history.epoch
        ('History', 2, [0, 1])
    """
    epochs = check_int("epochs", epochs, low=1)
    frozen_epochs = check_int("frozen_epochs", frozen_epochs, low=0)
    if frozen_epochs > epochs:
        raise ToolkitError(f"frozen_epochs must be <= epochs ({epochs}); received {frozen_epochs}")
    try:
        shared = model.get_layer(encoder.name) is encoder
    except ValueError:
        shared = False
    if not shared:
        raise ToolkitError(
            f"encoder {encoder.name!r} is not a layer of model {model.name!r}; "
            "build the model with attach_head(encoder, ...)"
        )
    task = _task_of(model)
    loss = loss or head_loss(task)
    metrics = _head_metrics(task) if metrics is None else list(metrics)
    data, extra = fit_inputs(x, y, batch_size)  # a new order every epoch on TensorFlow too
    fit = dict(validation_data=validation_data, callbacks=[*extra, *callbacks], verbose=verbose)
    combined = {}

    def run(first, last):
        build_before_fit(model, x, y)  # one trace of the train step, not two (TensorFlow)
        history = model.fit(**data, initial_epoch=first, epochs=last, **fit)
        for key, values in history.history.items():
            combined.setdefault(key, []).extend(values)

    if frozen_epochs:
        encoder.trainable = False
        model.compile(optimizer=_fresh_optimizer(optimizer), loss=loss, metrics=metrics)
        run(0, frozen_epochs)
    encoder.trainable = True
    model.compile(optimizer=_fresh_optimizer(optimizer), loss=loss, metrics=metrics)
    if epochs > frozen_epochs:
        run(frozen_epochs, epochs)
    if verbose:
        report_rows_read(model.name, extra)  # in a multi-process run: this process's rows, every epoch
    history = keras.callbacks.History()
    history.set_model(model)
    history.history, history.epoch = combined, list(range(epochs))
    history.params = {"epochs": epochs, "verbose": verbose}
    return history
