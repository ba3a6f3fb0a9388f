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

from toolkit.activations import activation_label, get_activation
from toolkit.autoencoders import AutoencoderParts, build_stacked_autoencoder, default_loss
from toolkit.callbacks import StageCallback
from toolkit.data.pipeline import fit_inputs
from toolkit.errors import ToolkitError, check_choice, check_int, is_int
from toolkit.layers import Conv2DTransposeTied, DenseTranspose, RReLU
from toolkit.regularizers import ActivityPenalty, sparsity_regularizer

TASKS = ("multiclass", "binary", "multilabel", "regression")
_HEAD_ACTIVATION = {"multiclass": "softmax", "binary": "sigmoid", "multilabel": "sigmoid", "regression": "linear"}


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


# ---------------------------------------------------------------------------- the trunk
_TRUNK = (keras.layers.Dense, keras.layers.Conv2D)  # pretrained layer kinds
_DECODING = (keras.layers.Conv2DTranspose, DenseTranspose, Conv2DTransposeTied)  # a model's own decoder layers
_FOLLOWERS = (  # belong to the stage of the trunk layer before them
    keras.layers.Activation,
    keras.layers.LeakyReLU,
    keras.layers.ReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
    keras.layers.Softmax,
    RReLU,
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
    keras.layers.ActivityRegularization,
    ActivityPenalty,
)
_NOISE = (keras.layers.Dropout, keras.layers.GaussianNoise, keras.layers.GaussianDropout, keras.layers.AlphaDropout)


def _tensor_sources(value):
    """Names of the layers whose tensors appear in a serialized call's arguments."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return [value["config"]["keras_history"][0]]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [name for v in value for name in _tensor_sources(v)]
    return []


def _functional_chain(model):
    """The layers of a functional model, checked to form one chain (public config only)."""
    config = model.get_config()

    def count(entries):  # one tensor is written ['name', 0, 0], several as a list of those
        return 1 if entries and isinstance(entries[0], str) else len(entries or [])

    ins, outs = count(config.get("input_layers")), count(config.get("output_layers"))
    if ins != 1 or outs != 1:
        raise ToolkitError(
            f"model {model.name!r}: greedy pretraining needs one input and one output; received "
            f"{ins} inputs and {outs} outputs"
        )
    previous = None
    for entry in config["layers"]:
        nodes = entry.get("inbound_nodes", [])
        if entry.get("class_name") == "InputLayer":
            previous = entry["name"]
            continue
        if len(nodes) != 1:
            raise ToolkitError(
                f"layer {entry['name']!r}: greedy pretraining needs each layer used once; "
                f"it is called {len(nodes)} times"
            )
        sources = _tensor_sources(nodes[0].get("args", ())) + _tensor_sources(nodes[0].get("kwargs", {}))
        if sources != [previous]:
            raise ToolkitError(
                f"layer {entry['name']!r}: greedy pretraining needs a chain of layers, each fed by the one before; "
                f"it takes {sources} (a branch or a merge, e.g. a residual block)"
            )
        previous = entry["name"]
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def _is_functional(model):
    if not isinstance(model, keras.Model):
        return False
    try:
        config = model.get_config()
    except Exception:  # a subclassed model without get_config
        return False
    return isinstance(config, dict) and "layers" in config and "input_layers" in config


def _noise_layer(noise, level, name):
    if noise == "gaussian":
        return keras.layers.GaussianNoise(level, name=name)
    return keras.layers.Dropout(level, name=name)


def model_chain(model):
    """The model's layers as one chain, nested Sequential/functional models flattened.

    Raises ``ToolkitError`` naming the layer for a branch, a merge, a shared layer or a
    subclassed model (greedy pretraining trains stage by stage along one path).
    """
    if isinstance(model, keras.Sequential):
        layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    elif _is_functional(model):
        layers = _functional_chain(model)
    else:
        raise ToolkitError(
            f"model {getattr(model, 'name', model)!r} ({type(model).__name__}): greedy pretraining needs a "
            "keras.Sequential or functional model (a subclassed model's graph cannot be followed)"
        )
    chain = []
    for layer in layers:
        chain += model_chain(layer) if isinstance(layer, keras.Model) else [layer]
    return chain


def _io_shapes(model):
    """The model's input and output shapes without the batch axis (one of each)."""
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if not inputs or not outputs:
        raise ToolkitError(f"model {model.name!r} is not built; give it a keras.Input or call it on data first")
    if len(inputs) != 1 or len(outputs) != 1:
        raise ToolkitError(
            f"model {model.name!r}: greedy pretraining needs one input and one output; received "
            f"{len(inputs)} inputs and {len(outputs)} outputs"
        )
    return _shape(inputs[0]), _shape(outputs[0])


def _shape(tensor):
    return tuple(int(d) for d in tensor.shape[1:])


def _activation_of(layers):
    """The name (or layer) of the last activation in ``layers``: an activation layer, or a
    Dense/Conv layer's own ``activation``."""
    for layer in reversed(layers):
        if isinstance(layer, keras.layers.Activation) or (
            isinstance(layer, (*_TRUNK, keras.layers.Conv2DTranspose)) and layer.activation is not None
        ):
            name = getattr(layer.activation, "__name__", "linear")
            if isinstance(layer, keras.layers.Activation) or name != "linear":
                return name
            return "linear"
        if isinstance(layer, _FOLLOWERS) and not isinstance(
            layer, (keras.layers.BatchNormalization, *_POOLS, ActivityPenalty)
        ):
            return layer
    return "linear"


_POOLS = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D, keras.layers.ActivityRegularization)


@dataclass
class _StagePlan:
    layer: keras.layers.Layer
    start: int  # chain index of the trunk layer
    end: int  # end of its segment (followers included)
    decoder: list  # the model's own decoder layers, or None (a fresh decoder)


def plan_stages(model, layers=None):
    """``(chain, plans)``: the model's trunk, one plan per greedy stage.

    The trunk, unless ``layers`` names it:

    - an **autoencoder** (output shape = input shape) whose weight layers mirror each other
      (``W1 … Wm``, ``m`` even): stage ``k`` is ``Wk`` with the model's *own* decoder
      ``W(m+1-k)`` (as the toolkit's ``enc{k}``/``dec{k}`` stages);
    - any other model, a **classifier**: every ``Dense``/``Conv2D`` before the last weight
      layer (the head), each with a fresh decoder used for pretraining only.

    A trunk layer's stage also holds the activation, normalisation and pooling layers
    right after it; anything between stages (``Flatten``, ``Rescaling``, dropout) is part of
    the path that computes the next stage's input.
    """
    chain = model_chain(model)
    weights = [i for i, layer in enumerate(chain) if isinstance(layer, (*_TRUNK, *_DECODING))]
    for i, layer in enumerate(chain):
        if layer.weights and i not in weights and not isinstance(layer, _FOLLOWERS):
            limit = weights[-1] if weights else len(chain)
            if i < limit:
                raise ToolkitError(
                    f"layer {layer.name!r} ({type(layer).__name__}): greedy pretraining trains Dense and Conv2D "
                    "layers (with activations, normalisation and pooling after them); this layer has weights of "
                    "another kind"
                )
    if not weights:
        raise ToolkitError(f"model {model.name!r} has no Dense or Conv2D layer to pretrain")

    def segment_end(p):
        j = p + 1
        while j < len(chain) and isinstance(chain[j], _FOLLOWERS) and j not in weights:
            j += 1
        return j

    if layers is not None:
        names = [layer.name for layer in chain]
        starts = []
        for name in layers:
            if name not in names:
                raise ToolkitError(f"layer {name!r} is not in model {model.name!r}; its layers: {', '.join(names)}")
            i = names.index(name)
            if not isinstance(chain[i], _TRUNK):
                raise ToolkitError(
                    f"layer {name!r} ({type(chain[i]).__name__}): greedy pretraining trains Dense and Conv2D layers"
                )
            if starts and i <= starts[-1]:
                raise ToolkitError(
                    f"layers must be named in model order; {name!r} comes before {chain[starts[-1]].name!r}"
                )
            starts.append(i)
        return chain, [_StagePlan(chain[p], p, segment_end(p), None) for p in starts]

    m = len(weights)
    mirrored = (
        _io_shapes(model)[0] == _io_shapes(model)[1]
        and m >= 2
        and m % 2 == 0
        and all(isinstance(chain[p], _TRUNK) for p in weights[: m // 2])
    )
    if mirrored:
        plans = []
        for k in range(1, m // 2 + 1):
            p = weights[k - 1]
            end = segment_end(p)
            first = end if k == m // 2 else weights[m - k]
            last = weights[m - k + 1] if k > 1 else len(chain)
            plans.append(_StagePlan(chain[p], p, end, chain[first:last]))
        return chain, plans
    trunk = weights[:-1]
    if not trunk:
        raise ToolkitError(
            f"model {model.name!r} has no Dense or Conv2D layer before its head {chain[weights[-1]].name!r}; "
            "nothing to pretrain"
        )
    for p in trunk:
        if not isinstance(chain[p], _TRUNK):
            raise ToolkitError(
                f"layer {chain[p].name!r} ({type(chain[p]).__name__}): greedy pretraining trains Dense and Conv2D "
                "layers before the head"
            )
    return chain, [_StagePlan(chain[p], p, segment_end(p), None) for p in trunk]


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


def _compute(layers, x, batch_size, name):
    """``x`` through ``layers`` in inference mode (dropout, noise, augmentation off), batch-wise."""
    if not layers:
        return np.asarray(x, dtype="float32")
    inputs = keras.Input(shape=np.shape(x)[1:], name=f"{name}_input")
    h = inputs
    for layer in layers:
        h = layer(h)
    return np.asarray(keras.Model(inputs, h, name=name).predict(x, batch_size=batch_size, verbose=0), dtype="float32")


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
        stage_model.compile(optimizer=_fresh_optimizer(optimizer), loss=loss)
        data, extra = fit_inputs(h, h, batch_size)  # a new order every epoch on TensorFlow too
        history = stage_model.fit(
            **data,
            epochs=per_stage[k - 1],
            validation_data=None if v is None else (v, v),
            callbacks=[*extra, *callbacks],
            verbose={0: 0, 1: 2, 2: 1}[verbose],
        )
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
        module docstring has a runnable example).
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
    history = keras.callbacks.History()
    history.set_model(model)
    history.history, history.epoch = combined, list(range(epochs))
    history.params = {"epochs": epochs, "verbose": verbose}
    return history


__all__ = [
    "StageCallback",
    "greedy_pretrain_model",
    "plan_stages",
    "model_chain",
    "StageInfo",
    "PretrainResult",
    "pretrain_greedy",
    "attach_head",
    "fine_tune",
    "head_loss",
    "TASKS",
]
