"""Training curves from a Keras History (or its ``history`` dict)."""
from toolkit.plots.base import new_figure, save_figure


def plot_history(histories, path, metrics=("loss",), title=None):
    """One panel per metric, one line per run; ``histories`` maps a label to a history dict.

    Validation curves (``val_<metric>``) are drawn dashed in the same colour.
    """
    fig, axes = new_figure(ncols=len(metrics), width=4.5)
    for ax, metric in zip(axes[0], metrics):
        for i, (label, history) in enumerate(histories.items()):
            h = getattr(history, "history", history)
            colour = f"C{i % 10}"
            if metric in h:
                ax.plot(range(1, len(h[metric]) + 1), h[metric], color=colour, label=f"{label}")
            if f"val_{metric}" in h:
                ax.plot(range(1, len(h[f"val_{metric}"]) + 1), h[f"val_{metric}"], color=colour,
                        linestyle="--", label=f"{label} (val)")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_lines(x, series, path, xlabel, ylabel, title=None, log_x=False, log_y=False):
    """One line per entry of ``series`` (label -> y values over ``x``), markers on the points."""
    fig, axes = new_figure(width=5.0)
    ax = axes[0, 0]
    for i, (label, ys) in enumerate(series.items()):
        ax.plot(list(x), list(ys), marker="os^vDx*"[i % 7], linestyle="-" if i % 2 == 0 else "--", label=label)
    if log_x:
        ax.set_xscale("log", base=2)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
