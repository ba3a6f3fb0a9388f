"""Numbers and names as a report shows them: :func:`fmt`, :func:`human_name` for metric
keys, and compact one-line values and durations."""

import re


def fmt(value):
    """A number as a report shows it.

    >>> fmt(1234), fmt(0.98765), fmt(2.5e-6), fmt(None)
    ('1,234', '0.9877', '2.500e-06', 'None')
    """
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3e}"
        return f"{value:.4g}"
    return str(value)


# Words of metric keys, in the order they are tried: (pattern, label, names a measure?).
_WORDS = [
    (r"test_acc(?:uracy)?", "test accuracy", True),
    (r"s_per_epoch", "seconds per epoch", True),
    (r"mean_activation", "mean activation", True),
    (r"pool_windows", "pooling windows", True),
    (r"slide(\d+)_exact", "slide {} reproduced exactly", True),
    (r"wall_seconds", "wall time (s)", True),
    (r"fine_tuned", "fine-tuned", False),
    (r"random_init", "random initialisation", False),
    (r"leaky_relu", "leaky ReLU", False),
    (r"err(?:or)?", "test error", True),
    (r"acc(?:uracy)?", "accuracy", True),
    (r"mse", "MSE", True),
    (r"ratio", "first/last-layer gradient ratio", True),
    (r"loss", "loss", True),
    (r"rot(\d+)", "accuracy rotated {}°", True),
    (r"shift(\d+)", "accuracy shifted {} px", True),
    (r"d(\d+)", "depth {}", False),
    (r"n(\d+)", "{} labels", False),
    (r"code(\d+)", "code size {}", False),
    (r"pre", "pretrained", False),
    (r"rand", "random initialisation", False),
    (r"plain", "without augmentation", False),
    (r"augmented", "with augmentation", False),
    (r"kl", "KL penalty", False),
    (r"l1", "L1 penalty", False),
    (r"none", "no penalty", False),
    (r"deep", "deep autoencoder", False),
    (r"pca", "PCA", False),
    (r"cnn", "CNN", False),
    (r"mlp", "MLP", False),
    (r"relu", "ReLU", False),
    (r"prelu", "PReLU", False),
    (r"rrelu", "RReLU", False),
]


def human_name(key):
    """A metric key as a person reads it: known words expanded, the measure first and what
    it was measured on in brackets.

    >>> human_name("err_d3_n300_pre")
    'test error (depth 3, 300 labels, pretrained)'
    >>> human_name("test_accuracy"), human_name("cnn_shift3"), human_name("odd_key")
    ('test accuracy', 'accuracy shifted 3 px (CNN)', 'odd key')
    """
    key, words, pos = str(key), [], 0
    while pos < len(key):
        if key[pos] == "_":
            pos += 1
            continue
        for pattern, label, is_measure in _WORDS:
            m = re.match(pattern + r"(?=_|$)", key[pos:], flags=re.IGNORECASE)
            if m:
                words.append((label.format(*(f"{int(g):,}" for g in m.groups())), is_measure))
                pos += m.end()
                break
        else:
            word = key[pos:].split("_", 1)[0]
            words.append((word, None))
            pos += len(word)
    known = any(is_measure for _, is_measure in words)  # unknown words name the measure only when none is known
    measure = [w for w, is_measure in words if is_measure or (is_measure is None and not known)]
    qualifiers = [w for w, is_measure in words if is_measure is False or (is_measure is None and known)]
    if not measure:
        return ", ".join(qualifiers)
    return " ".join(measure) + (f" ({', '.join(qualifiers)})" if qualifiers else "")


def _compact(value):
    """A measured value in one short line."""
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_compact(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    return fmt(value)


def _measured(measured):
    if not isinstance(measured, dict):
        return _compact(measured)
    return "; ".join(f"{k}: {_compact(v)}" for k, v in measured.items())


def _duration(seconds):
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return "unknown"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.2f} h"


def _count(value):
    return fmt(value) if isinstance(value, int) and not isinstance(value, bool) else "unknown"


def count(n, noun, plural=None):
    """``n`` with its noun, singular or plural, as a sentence says it.

    >>> count(1, "epoch"), count(3, "epoch"), count(2, "image"), count(1_000, "label")
    ('1 epoch', '3 epochs', '2 images', '1,000 labels')
    """
    word = noun if n == 1 else (plural or noun + "s")
    return f"{n:,} {word}" if isinstance(n, int) else f"{n} {word}"
