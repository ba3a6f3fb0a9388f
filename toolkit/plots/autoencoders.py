"""Autoencoder figures (slides 2–15): reconstructions, codes, learned features.

Each function takes arrays (or a layer) and an optional ``path``: with one it saves a PNG
through :func:`toolkit.plots.base.save_figure` and returns the path, without one it returns
the figure.
"""

import numpy as np

from toolkit.errors import ToolkitError
from toolkit.plots.base import finish, image_grid, new_figure


def _as_images(x, image_shape):
    x = np.asarray(x)
    if image_shape is not None:
        return x.reshape((len(x),) + tuple(image_shape))
    if x.ndim == 2:  # flat vectors: assume square grey images
        side = int(round(np.sqrt(x.shape[1])))
        if side * side != x.shape[1]:
            raise ToolkitError(f"cannot guess the image shape of {x.shape[1]} features; pass image_shape")
        return x.reshape(len(x), side, side)
    return x


def plot_reconstructions(originals, reconstructions, path=None, n=10, image_shape=None, title=None):
    """Originals (top row) over their reconstructions (bottom row), slide 3.

    ``originals``/``reconstructions``: images or flat vectors (``image_shape`` says how to
    reshape them; square grey images are guessed). Both are drawn on a common [0, 1] scale.
    """
    originals, reconstructions = np.asarray(originals), np.asarray(reconstructions)
    if len(originals) != len(reconstructions):
        raise ToolkitError(
            f"originals and reconstructions differ in length: {len(originals)} != {len(reconstructions)}"
        )
    n = min(int(n), len(originals))
    top = _as_images(originals[:n], image_shape).astype("float32")
    bottom = _as_images(reconstructions[:n], image_shape).astype("float32")
    if top.max() > 1.5:  # uint8-range originals
        top = top / 255.0
    # uint8 keeps image_grid from rescaling each panel: both rows share one scale
    images = [np.clip(im * 255.0, 0, 255).astype("uint8") for im in list(top) + list(bottom)]
    return image_grid(images, path, ncols=n, suptitle=title, row_labels=["original", "reconstruction"])


def _project_2d(codes):
    codes = np.asarray(codes, dtype="float64").reshape(len(codes), -1)
    if codes.shape[1] == 2:
        return codes, ("code 1", "code 2")
    if codes.shape[1] == 1:
        return np.column_stack([codes[:, 0], np.zeros(len(codes))]), ("code 1", "")
    centred = codes - codes.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T, ("code PC 1", "code PC 2")


def plot_code_scatter(codes, labels, path=None, class_names=None, title=None, max_points=5000):
    """Codes in 2-D coloured by class (slide 6: the code "symbolises" the input).

    Codes wider than 2 are projected on their first two principal components (the axes
    say so). At most ``max_points`` points (the first ones) are drawn.
    """
    codes, labels = np.asarray(codes)[:max_points], np.asarray(labels).reshape(-1)[:max_points]
    if len(codes) != len(labels):
        raise ToolkitError(f"codes and labels differ in length: {len(codes)} != {len(labels)}")
    xy, (xlabel, ylabel) = _project_2d(codes)
    fig, axes = new_figure(width=5.5, height=4.6, layout="constrained")
    ax = axes[0, 0]
    for i, cls in enumerate(np.unique(labels)):
        mask = labels == cls
        name = class_names[int(cls)] if class_names is not None else str(cls)
        ax.scatter(xy[mask, 0], xy[mask, 1], s=4, alpha=0.6, color=f"C{i % 10}", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if len(np.unique(labels)) > 1:  # beside the points, never over them
        fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize=7, markerscale=3)
    if title:
        ax.set_title(title)
    return finish(fig, path)


def plot_feature_images(weights, path=None, image_shape=(28, 28), n=64, ncols=8, title=None):
    """Each hidden unit's input weights drawn as an image (what the unit detects).

    ``weights``: a kernel ``(input_dim, units)`` or a built Dense-like layer (its
    ``kernel``). Shows the first ``n`` units, each scaled to its own range.
    """
    kernel = getattr(weights, "kernel", weights)
    try:
        import keras

        kernel = keras.ops.convert_to_numpy(kernel)
    except (ImportError, ValueError, TypeError):
        kernel = np.asarray(kernel)
    kernel = np.asarray(kernel)
    if kernel.ndim != 2 or kernel.shape[0] != int(np.prod(image_shape)):
        raise ToolkitError(
            f"weights must be (prod(image_shape)={int(np.prod(image_shape))}, units); received shape {kernel.shape}"
        )
    n = min(int(n), kernel.shape[1])
    images = [kernel[:, j].reshape(image_shape) for j in range(n)]
    return image_grid(images, path, ncols=min(ncols, n), suptitle=title, titles=[f"h{j + 1}" for j in range(n)])
