"""Greedy layer-wise pretraining (slides 10–14): the one implementation,
:func:`greedy_pretrain_model`, behind :func:`pretrain_greedy` and
:class:`toolkit.callbacks.GreedyPretraining`, and what it returns (:class:`StageInfo`,
:class:`PretrainResult`)."""

from dataclasses import dataclass, field

import keras
import numpy as np

from toolkit.activations import activation_label, get_activation
from toolkit.autoencoders import AutoencoderParts, build_stacked_autoencoder, default_loss
from toolkit.data.pipeline import fit_inputs, report_rows_read
from toolkit.devices import build_before_fit, steps_per_execution
from toolkit.errors import ToolkitError, check_int, is_int
from toolkit.layers import Conv2DTransposeTied, DenseTranspose
from toolkit.pretraining.plan import _NOISE, _activation_of, _io_shapes, _shape, plan_stages
from toolkit.regularizers import ActivityPenalty, sparsity_regularizer


# ---------------------------------------------------------------------------- stage protocol
@dataclass
class StageInfo:
    """What one pretraining stage trains. ``str(info)`` is ``"stage 2/4: 1000 → 500"``
    (``"stage 1/2: 28×28×1 → 14×14×16"`` for a convolutional stage).

    ``inputs`` is the stage's training input (``h{k-1}``, computed once), ``model`` the
    shallow autoencoder trained in this stage (built around the model's own layers);
    ``layer_names`` are the model's own layers it trains, ``input_shape``/``code_shape``
    the shapes without the batch axis, ``input_dim``/``units`` their last axes.
    """

    index: int
    total: int
    input_dim: int
    units: int
    loss: str
    layer_names: tuple
    inputs: np.ndarray = field(repr=False, default=None)
    model: keras.Model = field(repr=False, default=None)
    input_shape: tuple = ()
    code_shape: tuple = ()

    def __str__(self):
        def fmt(shape, last):
            return "×".join(map(str, shape)) if len(shape) > 1 else str(last)

        source, code = fmt(self.input_shape, self.input_dim), fmt(self.code_shape, self.units)
        return f"stage {self.index}/{self.total}: {source} → {code}"


@dataclass
class PretrainResult:
    """The pretrained model and each stage's record.

    ``model`` is the model pretrained (the one passed in); ``parts`` its
    :class:`~toolkit.autoencoders.AutoencoderParts` when it came from the toolkit's
    builders (else None), with ``encoder``/``decoder``/``autoencoder`` its models;
    ``histories[k-1]`` is stage ``k``'s ``History.history`` dict.
    """

    parts: AutoencoderParts
    stages: list
    histories: list
    model: keras.Model = None

    def __post_init__(self):
        if self.model is None and self.parts is not None:
            self.model = self.parts.model

    def _part(self, name):
        if self.parts is None:
            raise ToolkitError(
                f"{name} exists for the toolkit's autoencoders; this result is of model {self.model.name!r}"
            )
        return getattr(self.parts, name)

    @property
    def encoder(self):
        return self._part("encoder")

    @property
    def decoder(self):
        return self._part("decoder")

    @property
    def autoencoder(self):
        return self._part("model")


def _noise_layer(noise, level, name):
    if noise == "gaussian":
        return keras.layers.GaussianNoise(level, name=name)
    return keras.layers.Dropout(level, name=name)


def _fresh_decoder(plan, k, code, conv_out, stage_shape, in_unit_range, tied):
    """Layers mapping the stage's code back to its input: Dense (or the kernel's
    transpose) for a Dense layer; up-sampling by the pooling factor then a transposed
    convolution (or the tied transpose) for a Conv2D."""
    layer = plan.layer
    activation = "sigmoid" if in_unit_range else "linear"
    name = f"stage{k}_decoder"
    if isinstance(layer, keras.layers.Dense):
        dense = DenseTranspose(layer, name=name) if tied else keras.layers.Dense(stage_shape[-1], name=name)
        return [dense, get_activation(activation, name=f"{name}_act")], activation
    code_hw, conv_hw = _shape(code)[:2], conv_out[:2]
    factors = []
    for c, o in zip(code_hw, conv_hw):
        if c == 0 or o % c:
            raise ToolkitError(
                f"layer {layer.name!r}: cannot mirror its stage, {conv_hw} after the convolution is not a whole "
                f"multiple of {code_hw} after pooling"
            )
        factors.append(o // c)
    decoder = [keras.layers.UpSampling2D(tuple(factors), name=f"{name}_upsample")] if factors != [1, 1] else []
    if tied:
        decoder.append(Conv2DTransposeTied(layer, name=name))
    else:
        decoder.append(
            keras.layers.Conv2DTranspose(
                stage_shape[-1], layer.kernel_size, strides=layer.strides, padding=layer.padding, name=name
            )
        )
    decoder.append(get_activation(activation, name=f"{name}_act"))
    return decoder, activation


ENCODE_BYTES = 64 * 2**20  # per batch of the once-per-stage encoding pass
ENCODE_MAX_ROWS = 4096


def _compute(layers, x, batch_size, name):
    """``x`` through ``layers`` in inference mode (dropout, noise, augmentation off), batch-wise."""
    if not layers:
        return np.asarray(x, dtype="float32")
    inputs = keras.Input(shape=np.shape(x)[1:], name=f"{name}_input")
    h = inputs
    for layer in layers:
        h = layer(h)
    # inference only, rows independent: large batches (up to ENCODE_BYTES of input and output
    # per batch) pay Keras's per-step cost a few times instead of once per training batch
    # (predict's steps_per_execution traces every step of a call apart: no gain measured)
    row = 4 * (int(np.prod(np.shape(x)[1:])) + int(np.prod(h.shape[1:])))
    rows = max(int(batch_size), min(ENCODE_MAX_ROWS, ENCODE_BYTES // max(row, 1)))
    return np.asarray(keras.Model(inputs, h, name=name).predict(x, batch_size=rows, verbose=0), dtype="float32")


def _fresh_optimizer(optimizer):
    """A new optimizer per compile: a Keras optimizer is built for one set of variables."""
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer.__class__.from_config(optimizer.get_config())
    return keras.optimizers.get(optimizer)


def _epochs_per_stage(epochs, n):
    per_stage = list(epochs) if isinstance(epochs, (tuple, list)) else [epochs] * n
    if len(per_stage) != n:
        raise ToolkitError(f"epochs needs one value per stage ({n}); received {epochs!r}")
    return [check_int("epochs", e, low=1) for e in per_stage]


def greedy_pretrain_model(
    model,
    x,
    epochs=1,
    batch_size=128,
    optimizer="adam",
    callbacks=(),
    validation_data=None,
    verbose=1,
    layers=None,
    noise=None,
    noise_level=0.2,
    sparsity=None,
    rho=0.05,
    beta=1.0,
    l1=1e-3,
    tied=False,
    parts=None,
):
    """Greedy layer-wise pretraining of any chain-shaped Keras model (slides 10–14).

    The one implementation behind :func:`pretrain_greedy` and
    :class:`toolkit.callbacks.GreedyPretraining`. The trunk is found by
    :func:`plan_stages`. Stage ``k`` is a shallow autoencoder ``h{k-1} → hk → h{k-1}``:
    its input ``h{k-1}`` is the output of everything before the ``k``-th trunk layer,
    computed **once per stage** in inference mode, and its encoder is that layer itself
    with its activation/normalisation/pooling layers (the model's own objects, so the
    pretrained weights *are* the model's). The decoder is the model's own mirror layer for
    an autoencoder, else a fresh one used only here.

    Losses: the reconstruction of a sigmoid decoder is scored with binary cross-entropy
    (Bengio et al. 2007), anything else with MSE (:func:`toolkit.autoencoders.default_loss`);
    an autoencoder's stage 1 uses the model's compiled loss. A fresh decoder is a sigmoid
    when the stage's inputs lie in [0, 1] (pixels, sigmoid codes), linear otherwise.

    The model's own noise layers (``Dropout``, ``GaussianNoise``...) right before a trunk
    layer corrupt that stage's input, as the toolkit's denoising autoencoders do for
    stage 1; augmentation layers are not applied while pretraining. ``noise`` corrupts
    every stage's input (stacked denoising autoencoders); ``sparsity`` penalises every
    stage's code; ``tied`` makes fresh decoders use the layer's transposed kernel.

    Returns a :class:`PretrainResult`.
    """
    from toolkit.callbacks import StageCallback, check_stage_options

    options = check_stage_options(noise, noise_level, sparsity, rho, beta, l1, tied)
    chain, plans = plan_stages(model, layers)
    n = len(plans)
    per_stage = _epochs_per_stage(epochs, n)
    verbose = check_int("verbose", verbose, low=0, high=2, expected="0, 1 or 2")
    batch_size = check_int("batch_size", batch_size, low=1)
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, keras.callbacks.Callback):
            raise ToolkitError(f"callbacks must be keras.callbacks.Callback objects; received {cb!r}")
    stage_hooks = [cb for cb in callbacks if isinstance(cb, StageCallback)]

    x_shape = tuple(np.shape(x))
    expected = _io_shapes(model)[0]
    if len(x_shape) < 2 or x_shape[1:] != expected:
        raise ToolkitError(
            f"x must have shape (N, {', '.join(map(str, expected))}) for model {model.name!r}; received {x_shape}"
        )
    h = _compute(chain[: plans[0].start], x, batch_size, "stage1_prefix")
    v = (
        None
        if validation_data is None
        else _compute(chain[: plans[0].start], validation_data, batch_size, "stage1_prefix_val")
    )
    regularizer = None
    if options["sparsity"] is not None:
        regularizer = sparsity_regularizer(
            options["sparsity"], l1=options["l1"], rho=options["rho"], beta=options["beta"]
        )

    stages, histories = [], []
    previous_end = 0
    for k, plan in enumerate(plans, start=1):
        stage_shape = h.shape[1:]
        segment = chain[plan.start : plan.end]
        own_noise = [layer for layer in chain[previous_end : plan.start] if isinstance(layer, _NOISE)]
        inputs = keras.Input(shape=stage_shape, name=f"stage{k}_input")
        t = inputs
        if options["noise"] is not None:
            t = _noise_layer(options["noise"], options["noise_level"], name=f"stage{k}_noise")(t)
        for layer in own_noise:
            t = layer(t)
        t = plan.layer(t)
        conv_out = _shape(t)
        for layer in segment[1:]:
            t = layer(t)
        code = t
        if regularizer is not None:
            code_activation = activation_label(_activation_of(segment))
            if options["sparsity"] == "kl" and code_activation not in ("sigmoid", "hard_sigmoid"):
                raise ToolkitError(
                    f"layer {plan.layer.name!r}: KL sparsity needs codes in [0, 1] (sigmoid); its activation is "
                    f"{code_activation!r}; use sparsity='l1'"
                )
            t = ActivityPenalty(regularizer, name=f"stage{k}_sparsity")(t)
        if plan.decoder is not None:
            decoder = plan.decoder
            out_activation = _activation_of(decoder)
        else:
            in_unit_range = bool(h.size) and float(h.min()) >= 0.0 and float(h.max()) <= 1.0
            decoder, out_activation = _fresh_decoder(
                plan, k, code, conv_out, stage_shape, in_unit_range, options["tied"]
            )
        out = t
        for layer in decoder:
            out = layer(out)
        if _shape(out) != tuple(stage_shape):
            if int(np.prod(_shape(out))) != int(np.prod(stage_shape)):
                raise ToolkitError(
                    f"layer {plan.layer.name!r}: its stage decodes to shape {_shape(out)}, not its input's "
                    f"{tuple(stage_shape)}; the decoder layers {[d.name for d in decoder]} do not mirror it"
                )
            out = keras.layers.Reshape(tuple(stage_shape), name=f"stage{k}_reshape")(out)
        stage_model = keras.Model(inputs, out, name=f"stage{k}_autoencoder")
        compiled = getattr(model, "loss", None)
        if plan.decoder is not None and k == 1 and isinstance(compiled, str):
            loss = compiled
        else:
            loss = default_loss(out_activation)
        own = [layer.name for layer in segment] + ([layer.name for layer in plan.decoder] if plan.decoder else [])
        info = StageInfo(
            index=k,
            total=n,
            input_dim=int(stage_shape[-1]),
            units=int(code.shape[-1]),
            loss=loss,
            layer_names=tuple(own),
            inputs=h,
            model=stage_model,
            input_shape=tuple(int(d) for d in stage_shape),
            code_shape=_shape(code),
        )
        if verbose:
            print(str(info), flush=True)
        for cb in stage_hooks:
            cb.on_stage_begin(k, info)
        # several steps per compiled call: a small stage would otherwise cost Keras's per-step
        # floor, not its layers (benchmarks/RESULTS.md, goal 2); per-batch callbacks keep 1
        stage_model.compile(
            optimizer=_fresh_optimizer(optimizer), loss=loss, steps_per_execution=steps_per_execution(callbacks)
        )
        build_before_fit(stage_model, h, h)  # one trace of the stage's train step, not two (TensorFlow)
        data, extra = fit_inputs(h, h, batch_size)  # a new order every epoch on TensorFlow too
        history = stage_model.fit(
            **data,
            epochs=per_stage[k - 1],
            validation_data=None if v is None else (v, v),
            callbacks=[*extra, *callbacks],
            verbose={0: 0, 1: 2, 2: 1}[verbose],
        )
        if verbose:
            report_rows_read(f"stage{k}", extra)  # in a multi-process run: this process's rows
        stages.append(info)
        histories.append(dict(history.history))
        for cb in stage_hooks:
            cb.on_stage_end(k, info, history)
        if k < n:  # the next stage's input: this stage's output, computed once
            path = chain[plan.start : plans[k].start]
            h = _compute(path, h, batch_size, f"stage{k}_encoder")
            if v is not None:
                v = _compute(path, v, batch_size, f"stage{k}_encoder_val")
        previous_end = plan.end
    return PretrainResult(parts=parts, stages=stages, histories=histories, model=model)


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
    **kwargs,
):
    """Greedy layer-wise pretraining (slides 10–14) as one call.

    Args:
        autoencoder: the :class:`~toolkit.autoencoders.AutoencoderParts` of any of the
            toolkit's autoencoders (dense, sparse, denoising, tied, convolutional), any
            ``keras.Sequential`` or functional model (a classifier's trunk or an
            autoencoder; see :func:`plan_stages`), or a ``hidden_units`` tuple: then a
            dense stack is built with ``build_stacked_autoencoder(x.shape[1],
            hidden_units, **kwargs)``.
        x: training data shaped like the model's input (``prepare_inputs`` for the
            toolkit's autoencoders).
        epochs: epochs per stage (an int, or one int per stage).
        batch_size: of every stage's fit and of computing stage inputs.
        optimizer: name or instance; each stage gets a fresh copy.
        callbacks: Keras callbacks, passed to every stage's ``fit``.
        stage_callbacks: :class:`~toolkit.callbacks.StageCallback` objects (Keras
            callbacks too: they also get every stage fit's epoch events).
        validation_data: optional ``x_val``; its stage inputs are computed like ``x``'s.
        verbose: 0 silent; 1 stage lines and one line per epoch; 2 Keras progress bars.
        kwargs: for a model, the stage options of :func:`greedy_pretrain_model`
            (``layers``, ``noise``, ``noise_level``, ``sparsity``, ``rho``, ``beta``, ``l1``,
            ``tied``); for ``hidden_units``, the builder's arguments.

    A denoising model's ``input_noise`` layer corrupts stage 1's input (the data); later
    stages train on clean codes. :class:`toolkit.callbacks.GreedyPretraining` runs the same
    pretraining from inside ``model.fit``.

    Returns:
        :class:`PretrainResult`; its ``parts``/``model`` are the *same* models (and layers)
        as those passed in, now pretrained. Fine-tune the deep autoencoder with
        ``result.autoencoder.fit(x, x)``, or attach a head to ``result.encoder`` (the
        package docstring, :mod:`toolkit.pretraining`, has a runnable example).
    """
    from toolkit.callbacks import StageCallback

    parts = None
    if isinstance(autoencoder, AutoencoderParts):
        parts, model = autoencoder, autoencoder.model
    elif isinstance(autoencoder, keras.Model):
        model = autoencoder
    elif isinstance(autoencoder, (tuple, list)) or is_int(autoencoder):
        x_shape = np.shape(x)
        if len(x_shape) != 2:
            raise ToolkitError(f"x must be flat (N, input_dim); received shape {x_shape}; use prepare_inputs")
        parts = build_stacked_autoencoder(x_shape[1], autoencoder, **kwargs)
        model, kwargs = parts.model, {}
    else:
        raise ToolkitError(
            "pretrain_greedy needs AutoencoderParts, a keras Sequential or functional model, or hidden_units; "
            f"received {type(autoencoder).__name__}"
        )
    unknown = sorted(set(kwargs) - set(_STAGE_OPTIONS))
    if unknown:
        raise ToolkitError(f"unknown pretraining options {unknown}; valid: {', '.join(_STAGE_OPTIONS)}")
    for cb in stage_callbacks:
        if not isinstance(cb, StageCallback):
            raise ToolkitError(f"stage_callbacks must be StageCallback objects; received {cb!r}")
    return greedy_pretrain_model(
        model,
        x,
        epochs=epochs,
        batch_size=batch_size,
        optimizer=optimizer,
        callbacks=[*callbacks, *[cb for cb in stage_callbacks if cb not in callbacks]],
        validation_data=validation_data,
        verbose=verbose,
        parts=parts,
        **kwargs,
    )


_STAGE_OPTIONS = ("layers", "noise", "noise_level", "sparsity", "rho", "beta", "l1", "tied")
