"""Every figure of the toolkit. One submodule per part of the lecture.

Each ``plot_*`` function takes its data and an optional ``path``: with a path it draws,
saves a PNG atomically through :func:`save_figure`, closes the figure and returns the
path; without one it returns the :class:`matplotlib.figure.Figure`. Importing this package
does not choose matplotlib's backend (figures are made without pyplot).
"""

from toolkit.plots.base import finish, image_grid, new_figure, save_figure
from toolkit.plots.training import plot_history, plot_lines

__all__ = ["finish", "image_grid", "new_figure", "save_figure", "plot_history", "plot_lines"]
