"""Training curves from a Keras History (or its ``history`` dict), and lines over a sweep."""

from matplotlib.lines import Line2D

from toolkit.plots.base import finish, integer_ticks, legend, new_figure

_FRACTIONS = ("accuracy", "acc")
_TRAIN, _TEST = ("-", "o"), ("--", "s")  # (line style, marker): training solid dots, test dashed open squares
_FILL = {"o": "full", "s": "none"}


def _ylabel(metric):
    """Accuracies are fractions (1 = every image right) in every figure of the toolkit."""
    return f"{metric} (fraction)" if metric.endswith(_FRACTIONS) else metric


def _whole(values):
    try:
        return bool(values) and all(float(v).is_integer() for v in values)
    except (TypeError, ValueError):
        return False


def plot_history(histories, path=None, metrics=("loss",), title=None, val_label="test"):
    """One panel per metric, one colour per run; ``histories`` maps a label to a history
    dict (or a Keras ``History``).

    Training curves are solid (dots); ``val_<metric>`` curves dashed (open squares) in the same colour and called
    ``val_label`` — "test", since the experiments pass the test set as ``validation_data``
    (pass ``val_label="validation"`` for a held-out split). Epochs are whole numbers from 1;
    a history of one epoch is drawn as points. The legend sits below the panels.

    Example:
        >>> fig = plot_history({"cnn": {"loss": [0.9], "val_loss": [0.8]}})
        >>> sorted(t.get_text() for t in fig.legends[0].get_texts())
        ['cnn', 'test', 'training']
    """
    fig, axes = new_figure(ncols=len(metrics), width=4.5, height=3.4, layout="constrained")
    has_val = False
    longest = 1
    for ax, metric in zip(axes[0], metrics):
        for i, history in enumerate(histories.values()):
            h = getattr(history, "history", history)
            colour = f"C{i % 10}"
            for key, (style, marker) in ((metric, _TRAIN), (f"val_{metric}", _TEST)):
                values = list(h.get(key, []))
                if not values:
                    continue
                has_val |= key != metric
                longest = max(longest, len(values))
                ax.plot(
                    range(1, len(values) + 1),
                    values,
                    color=colour,
                    linestyle=style,
                    marker=marker if len(values) <= 20 else None,
                    markersize=4,
                    fillstyle=_FILL[marker],
                )
        ax.set_xlabel("epoch")
        ax.set_ylabel(_ylabel(metric))
        integer_ticks(ax)
        if longest == 1:  # one epoch: its points, at epoch 1
            ax.set_xlim(0.5, 1.5)
            ax.set_xticks([1])
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=f"C{i % 10}", label=str(label)) for i, label in enumerate(histories)]
    for (style, marker), label, shown in ((_TRAIN, "training", True), (_TEST, val_label, has_val)):
        if shown:
            handles.append(
                Line2D(
                    [],
                    [],
                    color="0.3",
                    linestyle=style,
                    marker=marker,
                    markersize=4,
                    fillstyle=_FILL[marker],
                    label=label,
                )
            )
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 5), fontsize=8)
    if title:
        fig.suptitle(title)
    return finish(fig, path)


def plot_lines(x, series, path=None, xlabel="", ylabel="", title=None, log_x=False, log_y=False):
    """One line per entry of ``series`` (label -> y values over ``x``), markers on the points;
    whole-number x values get whole-number ticks; several lines get their legend below the
    axes. Keep one unit per figure (all fractions, or all percentages, as ``ylabel`` says).

    Example:
        >>> fig = plot_lines([1, 2, 3], {"a": [3, 2, 1]}, xlabel="depth", ylabel="error (%)")
        >>> fig.axes[0].get_xlabel()
        'depth'
    """
    fig, axes = new_figure(width=5.0, height=3.6, layout="constrained")
    ax = axes[0, 0]
    x = list(x)
    for i, (label, ys) in enumerate(series.items()):
        ax.plot(x, list(ys), marker="os^vDx*"[i % 7], linestyle="-" if i % 2 == 0 else "--", label=str(label))
    if log_x:
        ax.set_xscale("log", base=2)
    elif _whole(x):
        integer_ticks(ax)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    legend(fig, ax, fontsize=8)
    return finish(fig, path)
