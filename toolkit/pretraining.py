"""Greedy layer-wise pretraining (slides 9–14) and fine-tuning with a head (slides 16–19).

**Pretraining.** Plain backprop through many sigmoid layers stalls (slide 9). The fix
(slides 10–14): train the stack one stage at a time. Stage ``k`` is a *shallow*
autoencoder ``h{k-1} → hk → h{k-1}`` made of the deep model's own ``enc{k}_*`` and
``dec{k}_*`` layers (see :mod:`toolkit.autoencoders` for the names); its input ``h{k-1}``
is the output of the stages already trained, computed **once per stage** (batch-wise
``predict``) rather than pushed through frozen layers on every step. Because the stage
models are built from the very layer objects of the deep autoencoder, the trained stages
*are* the deep encoder (``enc1 … encn``) and deep decoder (``decn … dec1``): nothing is
copied or restacked by hand.

Stage losses: stage 1 reconstructs the data with the model's output activation, so it
uses the model's loss (binary cross-entropy for [0, 1] pixels). Stage ``k > 1``
reconstructs the codes ``h{k-1}``: with a sigmoid decoder (codes in [0, 1]) binary
cross-entropy is the matching likelihood, the convention of Bengio et al. (2007);
otherwise mean squared error (:func:`toolkit.autoencoders.default_loss`).

**Hooks.** Ordinary Keras callbacks (``callbacks=``) go to every stage's ``fit``; a
:class:`StageCallback` also hears ``on_stage_begin(stage, info)`` and
``on_stage_end(stage, info, history)``. Progress names the stage:
``stage 2/4: 1000 → 500``.

**Fine-tuning.** :func:`attach_head` wraps the (pretrained) encoder *object* with an
output layer (slide 18: softmax, sigmoid or linear), and :func:`fine_tune` trains end to
end, optionally with the encoder frozen for the first epochs (recompiling after each
change of ``trainable``, as Keras requires).

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).random((32, 12)).astype("float32")
    >>> result = pretrain_greedy((8, 4), x, epochs=1, batch_size=16, verbose=0)
    >>> [str(s) for s in result.stages]
    ['stage 1/2: 12 → 8', 'stage 2/2: 8 → 4']
    >>> classifier = attach_head(result.encoder, 3)
    >>> classifier.get_layer(result.encoder.name) is result.encoder
    True
"""

from dataclasses import dataclass, field

import keras
import numpy as np

from toolkit.activations import get_activation
from toolkit.autoencoders import AutoencoderParts, build_stacked_autoencoder, default_loss
from toolkit.data.pipeline import fit_inputs
from toolkit.errors import ToolkitError, check_choice, check_int, is_int

TASKS = ("multiclass", "binary", "multilabel", "regression")
_HEAD_ACTIVATION = {"multiclass": "softmax", "binary": "sigmoid", "multilabel": "sigmoid", "regression": "linear"}


# ---------------------------------------------------------------------------- stage protocol
@dataclass
class StageInfo:
    """What one pretraining stage trains. ``str(info)`` is ``"stage 2/4: 1000 → 500"``.

    ``inputs`` is the stage's training input (``h{k-1}``, computed once), ``model`` the
    shallow autoencoder trained in this stage (built from the deep model's layers).
    """

    index: int
    total: int
    input_dim: int
    units: int
    loss: str
    layer_names: tuple
    inputs: np.ndarray = field(repr=False, default=None)
    model: keras.Model = field(repr=False, default=None)

    def __str__(self):
        return f"stage {self.index}/{self.total}: {self.input_dim} → {self.units}"


class StageCallback:
    """Override what you need; every stage calls both. ``stage`` is 1-based."""

    def on_stage_begin(self, stage, info):
        pass

    def on_stage_end(self, stage, info, history):
        pass


@dataclass
class PretrainResult:
    """The pretrained deep autoencoder (``parts``) and each stage's record.

    ``encoder``/``decoder``/``autoencoder`` are ``parts``' models; ``histories[k-1]`` is
    stage ``k``'s ``History.history`` dict.
    """

    parts: AutoencoderParts
    stages: list
    histories: list

    @property
    def encoder(self):
        return self.parts.encoder

    @property
    def decoder(self):
        return self.parts.decoder

    @property
    def autoencoder(self):
        return self.parts.model


# ---------------------------------------------------------------------------- pretraining
def _stage_layers(model, prefix):
    return [layer for layer in model.layers if layer.name.startswith(prefix)]


def _fresh_optimizer(optimizer):
    """A new optimizer per compile: a Keras optimizer is built for one set of variables."""
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer.__class__.from_config(optimizer.get_config())
    return keras.optimizers.get(optimizer)


def pretrain_greedy(
    autoencoder,
    x,
    epochs=1,
    batch_size=128,
    optimizer="adam",
    callbacks=(),
    stage_callbacks=(),
    validation_data=None,
    verbose=1,
    **builder_kwargs,
):
    """Greedy layer-wise pretraining of a dense stacked autoencoder (slides 10–14).

    Args:
        autoencoder: the :class:`~toolkit.autoencoders.AutoencoderParts` of a dense
            stacked autoencoder (from the builders of :mod:`toolkit.autoencoders`), or
            its ``hidden_units`` tuple: then it is built with
            ``build_stacked_autoencoder(x.shape[1], hidden_units, **builder_kwargs)``.
        x: training data ``(N, input_dim)``, float in [0, 1] (``prepare_inputs``).
        epochs: epochs per stage (an int, or one int per stage).
        batch_size: of every stage's fit and of computing stage inputs.
        optimizer: name or instance; each stage gets a fresh copy.
        callbacks: Keras callbacks, passed to every stage's ``fit``.
        stage_callbacks: :class:`StageCallback` objects.
        validation_data: optional ``x_val``; its stage inputs are computed like ``x``'s.
        verbose: 0 silent; 1 stage lines and one line per epoch; 2 Keras progress bars.

    A denoising model's ``input_noise`` layer corrupts stage 1's input (the data); later
    stages train on clean codes.

    Returns:
        :class:`PretrainResult`; its ``parts`` are the *same* models (and layers) as the
        ``autoencoder`` passed in, now pretrained. Fine-tune the deep autoencoder with
        ``result.autoencoder.fit(x, x)``, or attach a head to ``result.encoder`` (the
        module docstring has a runnable example).
    """
    if isinstance(autoencoder, AutoencoderParts):
        parts = autoencoder
    elif isinstance(autoencoder, (tuple, list)) or is_int(autoencoder):
        x_shape = np.shape(x)
        if len(x_shape) != 2:
            raise ToolkitError(f"x must be flat (N, input_dim); received shape {x_shape}; use prepare_inputs")
        parts = build_stacked_autoencoder(x_shape[1], autoencoder, **builder_kwargs)
    else:
        raise ToolkitError(
            f"pretrain_greedy needs AutoencoderParts or hidden_units; received {type(autoencoder).__name__}"
        )
    model = parts.model
    n = len([layer for layer in model.layers if layer.name.endswith("_dense") and layer.name.startswith("enc")])
    if n == 0 or len(_stage_layers(model, "dec1_")) == 0:
        raise ToolkitError(f"model {model.name!r} has no enc{{k}}_dense/dec{{k}}_dense stages to pretrain")
    epochs_per_stage = list(epochs) if isinstance(epochs, (tuple, list)) else [epochs] * n
    if len(epochs_per_stage) != n:
        raise ToolkitError(f"epochs needs one value per stage ({n}); received {epochs!r}")
    epochs_per_stage = [check_int("epochs", e, low=1) for e in epochs_per_stage]
    verbose = check_int("verbose", verbose, low=0, high=2, expected="0, 1 or 2")
    stage_callbacks = list(stage_callbacks)
    for cb in stage_callbacks:
        if not isinstance(cb, StageCallback):
            raise ToolkitError(f"stage_callbacks must be StageCallback objects; received {cb!r}")

    x_in = np.asarray(x, dtype="float32")
    if x_in.ndim != 2 or x_in.shape[1] != model.input.shape[-1]:
        raise ToolkitError(f"x must have shape (N, {model.input.shape[-1]}); received {x_in.shape}")
    v_in = None if validation_data is None else np.asarray(validation_data, dtype="float32")
    noise = [layer for layer in model.layers if layer.name == "input_noise"]

    stages, histories = [], []
    for k in range(1, n + 1):
        enc_layers, dec_layers = _stage_layers(model, f"enc{k}_"), _stage_layers(model, f"dec{k}_")
        width = x_in.shape[1]
        inputs = keras.Input(shape=(width,), name=f"stage{k}_input")
        h = noise[0](inputs) if (noise and k == 1) else inputs
        for layer in enc_layers:
            h = layer(h)
        out = h
        for layer in dec_layers:
            out = layer(out)
        stage_model = keras.Model(inputs, out, name=f"stage{k}_autoencoder")
        loss = model.loss if k == 1 else default_loss(_decoder_activation(dec_layers))
        info = StageInfo(
            index=k,
            total=n,
            input_dim=width,
            units=int(h.shape[-1]),
            loss=loss,
            layer_names=tuple(layer.name for layer in enc_layers + dec_layers),
            inputs=x_in,
            model=stage_model,
        )
        if verbose:
            print(str(info), flush=True)
        for cb in stage_callbacks:
            cb.on_stage_begin(k, info)
        stage_model.compile(optimizer=_fresh_optimizer(optimizer), loss=loss)
        fit = dict(
            epochs=epochs_per_stage[k - 1],
            validation_data=None if v_in is None else (v_in, v_in),
            verbose={0: 0, 1: 2, 2: 1}[verbose],
        )
        data, extra = fit_inputs(x_in, x_in, batch_size)  # a new order every epoch on TensorFlow too
        history = stage_model.fit(**data, callbacks=[*extra, *callbacks], **fit)
        stages.append(info)
        histories.append(dict(history.history))
        for cb in stage_callbacks:
            cb.on_stage_end(k, info, history)
        if k < n:  # next stage's input: this stage's codes, computed once
            encode = keras.Model(inputs, h, name=f"stage{k}_encoder")
            x_in = encode.predict(x_in, batch_size=batch_size, verbose=0)
            if v_in is not None:
                v_in = encode.predict(v_in, batch_size=batch_size, verbose=0)
    return PretrainResult(parts=parts, stages=stages, histories=histories)


def _decoder_activation(dec_layers):
    act = [layer for layer in dec_layers if layer.name.endswith("_act")]
    if not act:
        return "linear"
    layer = act[-1]
    fn = getattr(layer, "activation", None)
    name = getattr(fn, "__name__", None)
    return name if isinstance(name, str) else layer


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
    return {"softmax": "multiclass", "sigmoid": "binary"}.get(name, "regression")


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

    Returns the combined ``History.history`` dict (one entry per epoch, frozen ones first).

    Example:
        >>> import numpy as np
        >>> from toolkit.autoencoders import build_autoencoder
        >>> parts = build_autoencoder(6, code_units=3)
        >>> model = attach_head(parts.encoder, 2)
        >>> x, y = np.random.rand(8, 6).astype("float32"), np.arange(8) % 2
        >>> len(fine_tune(model, parts.encoder, x, y, epochs=2, frozen_epochs=1)["loss"])
        2
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
    return combined


__all__ = [
    "StageCallback",
    "StageInfo",
    "PretrainResult",
    "pretrain_greedy",
    "attach_head",
    "fine_tune",
    "head_loss",
    "TASKS",
]
