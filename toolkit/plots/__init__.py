"""Every figure of the toolkit, saved to a file (matplotlib's ``Agg`` backend, no windows).

One submodule per part of the lecture; each function takes its data and a ``path``,
draws, saves atomically through :func:`save_figure` and returns the path.
"""
import matplotlib

matplotlib.use("Agg")

from toolkit.plots.base import image_grid, new_figure, save_figure  # noqa: E402
from toolkit.plots.training import plot_history, plot_lines  # noqa: E402

__all__ = ["image_grid", "new_figure", "save_figure", "plot_history", "plot_lines"]
