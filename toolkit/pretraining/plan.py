"""Finding the trunk of a model for greedy pretraining: the chain of its layers and one
:class:`_StagePlan` per stage (:func:`plan_stages`), from the model's public config only."""

from dataclasses import dataclass

import keras

from toolkit.errors import ToolkitError
from toolkit.layers import Conv2DTransposeTied, DenseTranspose, RReLU
from toolkit.regularizers import ActivityPenalty

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
