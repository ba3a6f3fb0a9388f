"""Figures of activation functions and of per-layer gradient norms (slides 21–27)."""

import math

import numpy as np

from toolkit.plots.base import finish, legend, new_figure

# Where each activation appears in the lecture.
SLIDES = {
    "sigmoid": "slide 23",
    "tanh": "slide 24",
    "relu": "slides 25–26",
    "leaky_relu": "slide 27",
    "prelu": "slide 27",
    "rrelu": "slide 27",
}


def plot_activations(specs, path=None, x_range=(-5.0, 5.0), num=401, ncols=3, title=None):
    """One panel per activation spec: f (solid) and its derivative f′ (dashed) on ``x_range``.

    The derivative comes from :func:`toolkit.diagnostics.activation_derivative` (automatic
    differentiation, inference mode: RReLU at its mean slope, whose training range is shaded);
    each panel's title gives the lecture slide and the largest f′ on the range — 0.25 for the
    sigmoid (slide 23), 1 for tanh (slide 24) and the ReLU family (slides 25–27).

    Example:
        >>> import os, tempfile
        >>> path = plot_activations(["sigmoid", "relu"], os.path.join(tempfile.mkdtemp(), "act.png"))
        >>> os.path.getsize(path) > 0
        True
        >>> plot_activations(["tanh"]).axes[0].get_title().startswith("tanh")  # no path: the Figure
        True
    """
    from keras import ops

    from toolkit.activations import activation_label, get_activation
    from toolkit.diagnostics import activation_derivative

    specs = list(specs)
    x = np.linspace(float(x_range[0]), float(x_range[1]), int(num), dtype="float32")
    ncols = max(1, min(int(ncols), len(specs)))
    nrows = max(1, math.ceil(len(specs) / ncols))
    fig, axes = new_figure(ncols=ncols, nrows=nrows, width=3.6, height=2.9, layout="constrained")
    for ax in axes.flat[len(specs) :]:
        ax.set_visible(False)
    for ax, spec in zip(axes.flat, specs):
        label = activation_label(spec)
        layer = get_activation(spec)
        y = np.asarray(ops.convert_to_numpy(layer(x.reshape(-1, 1), training=False))).reshape(-1)
        dy = activation_derivative(spec, x)
        ax.plot(x, y, color="C0", label="f(x)")
        ax.plot(x, dy, color="C3", linestyle="--", label="f′(x)")
        if label == "rrelu":
            neg = x[x < 0]
            ax.fill_between(neg, layer.lower * neg, layer.upper * neg, color="C0", alpha=0.2, label="training range")
        ax.axhline(0.0, color="0.6", linewidth=0.6)
        ax.axvline(0.0, color="0.6", linewidth=0.6)
        slide = SLIDES.get(label)
        ax.set_title(f"{label}{f' ({slide})' if slide else ''}\nmax f′ = {float(np.max(dy)):.3g}", fontsize=9)
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
    entries = {}  # one legend for every panel, below them: f, f′ (and RReLU's range)
    for ax in axes.flat[: len(specs)]:
        for handle, text in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(text, handle)
    fig.legend(list(entries.values()), list(entries), loc="outside lower center", ncol=len(entries), fontsize=8)
    if title:
        fig.suptitle(title)
    return finish(fig, path)


def plot_gradient_norms(norms_by_label, path=None, title=None, ylabel="gradient norm (log scale)"):
    """Per-layer gradient norms: layer on the x axis (model order), log-scale norm on the y
    axis, one line per label (an activation, or an epoch).

    ``norms_by_label`` maps a label to a ``{layer_name: norm}`` dict (as returned by
    :func:`toolkit.diagnostics.layer_gradient_norms`); the x axis follows the first label's
    layers, with any other layer appended. A norm of 0 (or missing) leaves a gap, since a
    log axis cannot show it. A sigmoid network's line falls steeply towards the input
    (the vanishing gradient of slide 23); a ReLU network's stays level.

    Example:
        >>> import os, tempfile
        >>> norms = {"sigmoid": {"dense1": 1e-6, "dense2": 1e-3, "head": 0.5},
        ...          "relu": {"dense1": 0.1, "dense2": 0.2, "head": 0.3}}
        >>> path = plot_gradient_norms(norms, os.path.join(tempfile.mkdtemp(), "g.png"))
        >>> os.path.getsize(path) > 0
        True
    """
    if not norms_by_label:
        from toolkit.errors import ToolkitError

        raise ToolkitError("plot_gradient_norms needs at least one {layer: norm} dict; received none")
    layers = []
    for norms in norms_by_label.values():
        layers.extend(name for name in norms if name not in layers)
    fig, axes = new_figure(width=max(5.0, 0.45 * len(layers) + 2.0), height=3.8, layout="constrained")
    ax = axes[0, 0]
    positions = np.arange(len(layers))
    for i, (label, norms) in enumerate(norms_by_label.items()):
        values = np.array([float(norms.get(name, np.nan)) for name in layers])
        values[~(values > 0)] = np.nan
        ax.plot(positions, values, marker="o", markersize=3, color=f"C{i % 10}", label=str(label))
    ax.set_yscale("log")
    ax.set_xticks(positions)
    ax.set_xticklabels(layers, rotation=45, ha="right", fontsize=7)
    ax.set_xlabel("layer (input → output)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    legend(fig, ax, fontsize=7)
    ax.set_title(title or "gradient norm per layer (slides 22–23)", fontsize=10)
    return finish(fig, path)
