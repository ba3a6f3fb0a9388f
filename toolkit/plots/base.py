"""Shared figure helpers: create, finish (return or save), grids of images.

Figures are :class:`matplotlib.figure.Figure` objects made without pyplot, so drawing needs
no window, no backend choice and no global figure list: importing this module leaves
matplotlib's backend alone (the CLI picks ``Agg``), and a figure saves to PNG whatever the
backend is.
"""

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from toolkit.fileio import atomic_path


def new_figure(ncols=1, nrows=1, width=4.0, height=3.2, layout=None, **kwargs):
    """``(fig, axes)``: a figure with an ``nrows`` x ``ncols`` grid of axes sized per panel
    (``axes`` always 2-D); ``layout="constrained"`` lets a legend sit outside the axes."""
    fig = Figure(figsize=(width * ncols, height * nrows), layout=layout)
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kwargs)


def save_figure(fig, path, dpi=110):
    """Save ``fig`` to ``path`` (PNG) atomically, close it, return ``path``."""
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    if getattr(fig.canvas, "manager", None) is not None:  # a pyplot figure: free it
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path


def finish(fig, path=None, dpi=110):
    """What every ``plot_*`` function returns: with a ``path``, the figure saved there (and
    closed) and the path; without one, the figure itself (to show, or save later)."""
    if path is None:
        if fig.get_layout_engine() is None:
            fig.tight_layout()
        return fig
    return save_figure(fig, path, dpi=dpi)


def integer_ticks(ax, axis="x"):
    """Whole-number ticks on ``axis`` (epochs, depths, counts)."""
    getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(integer=True))


def legend(fig, ax, **kwargs):
    """A legend that does not cover the data: inside (``loc="best"``) for one entry, below
    the axes for several (the figure must use ``layout="constrained"`` for that)."""
    handles, labels = ax.get_legend_handles_labels()
    if len(handles) <= 1 or fig.get_layout_engine() is None:
        return ax.legend(loc="best", **kwargs) if handles else None
    return fig.legend(handles, labels, loc="outside lower center", ncol=min(len(handles), 4), **kwargs)


def _as_display(image):
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.dtype != np.uint8:
        lo, hi = float(np.min(image)), float(np.max(image))
        image = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image, dtype=float)
    return image


def image_grid(images, path=None, titles=None, ncols=10, cmap="gray", suptitle=None, size=1.1, row_labels=None):
    """A grid of images (uint8, or floats scaled per image to [0, 1]); saved to ``path``
    (returned) or, without one, the figure returned."""
    images = list(images)
    nrows = max(1, int(np.ceil(len(images) / ncols)))
    fig = Figure(figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)))
    axes = fig.subplots(nrows, ncols, squeeze=False)
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
    return finish(fig, path)
