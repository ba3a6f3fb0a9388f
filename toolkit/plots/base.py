"""Shared figure helpers: create, save atomically, grids of images."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from toolkit.fileio import atomic_path  # noqa: E402


def new_figure(ncols=1, nrows=1, width=4.0, height=3.2, **kwargs):
    """A figure with a grid of axes sized per panel."""
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kwargs)


def save_figure(fig, path, dpi=110):
    """Save ``fig`` to ``path`` (PNG) atomically, close it, return ``path``."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return path


def _as_display(image):
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.dtype != np.uint8:
        lo, hi = float(np.min(image)), float(np.max(image))
        image = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image, dtype=float)
    return image


def image_grid(images, path, titles=None, ncols=10, cmap="gray", suptitle=None, size=1.1, row_labels=None):
    """Save a grid of images (uint8, or floats scaled per image to [0, 1])."""
    images = list(images)
    nrows = max(1, int(np.ceil(len(images) / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if i < len(images):
            ax.imshow(_as_display(images[i]), cmap=cmap, interpolation="nearest")
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=7)
    if row_labels is not None:
        for r, label in enumerate(row_labels[:nrows]):
            axes[r, 0].set_ylabel(str(label), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return save_figure(fig, path)
