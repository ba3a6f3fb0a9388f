"""CNN figures (slides 35–56): fixed kernels, pooling, learned filters, feature maps,
augmented samples and the confusion matrix. Each function saves a PNG to ``path`` and returns
the path, or without a path returns the figure.
"""

import numpy as np

from toolkit.errors import ToolkitError
from toolkit.plots.base import finish, image_grid, new_figure


def _conv_kernel(model_or_layer, layer_name=None):
    import keras

    layer = model_or_layer
    if isinstance(model_or_layer, keras.Model):
        if layer_name is not None:
            layer = model_or_layer.get_layer(layer_name)
        else:
            convs = [x for x in model_or_layer._flatten_layers() if isinstance(x, keras.layers.Conv2D)]
            if not convs:
                raise ToolkitError(f"model {model_or_layer.name!r} has no Conv2D layer whose filters could be drawn")
            layer = convs[0]
    if not isinstance(layer, keras.layers.Conv2D):
        raise ToolkitError(f"plot_filters needs a Conv2D layer or a model holding one; received {layer!r}")
    return layer.name, np.asarray(keras.ops.convert_to_numpy(layer.kernel))


def plot_filters(model_or_layer, path=None, layer_name=None, ncols=8):
    """The learned filters of a conv layer as an image grid (the first conv by default).

    One tile per filter: an RGB image when the layer sees 3 channels, else the filter of
    input channel 0; each tile scaled to its own range.
    """
    name, kernel = _conv_kernel(model_or_layer, layer_name)  # (kh, kw, in, out)
    tiles = [kernel[:, :, :, i] if kernel.shape[2] == 3 else kernel[:, :, 0, i] for i in range(kernel.shape[-1])]
    return image_grid(
        tiles,
        path,
        titles=[str(i) for i in range(len(tiles))],
        ncols=min(ncols, len(tiles)),
        suptitle=f"{name}: {kernel.shape[0]}x{kernel.shape[1]} filters",
        cmap="gray",
    )


def feature_maps(model, layer_name, image):
    """The output (H', W', K) of layer ``layer_name`` for one image (H, W, C), at inference."""
    import keras

    layer = model.get_layer(layer_name)
    probe = keras.Model(model.input, layer.output)
    batch = np.asarray(image)[None]
    return np.asarray(keras.ops.convert_to_numpy(probe(batch, training=False)))[0]


def plot_feature_maps(model, layer_name, image, path=None, max_maps=32, ncols=8):
    """The feature maps of ``layer_name`` for ``image`` (slides 38–41), one tile per map."""
    maps = feature_maps(model, layer_name, image)
    if maps.ndim != 3:
        raise ToolkitError(f"layer {layer_name!r} outputs shape {maps.shape}, not feature maps (H, W, K)")
    k = min(max_maps, maps.shape[-1])
    return image_grid(
        [maps[:, :, i] for i in range(k)],
        path,
        titles=[str(i) for i in range(k)],
        ncols=min(ncols, k),
        suptitle=f"{layer_name}: {k} of {maps.shape[-1]} maps ({maps.shape[0]}x{maps.shape[1]})",
        cmap="viridis",
    )


def plot_confusion_matrix(y_true, y_pred, class_names, path=None, normalize=True, title=None):
    """Confusion matrix: rows true classes, columns predicted; ``y_*`` integer labels (or
    score / one-hot rows, reduced by argmax). ``normalize`` shows each row as fractions."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim > 1:
        y_true = y_true.argmax(axis=-1)
    if y_pred.ndim > 1:
        y_pred = y_pred.argmax(axis=-1)
    n = len(class_names)
    counts = np.zeros((n, n), dtype=int)
    np.add.at(counts, (y_true.astype(int), y_pred.astype(int)), 1)
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    fig, axes = new_figure(width=max(4.0, 0.5 * n + 1.5), height=max(3.5, 0.5 * n + 1.0))
    ax = axes[0, 0]
    image = ax.imshow(shown, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_xticks(range(n), [str(c) for c in class_names], rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(n), [str(c) for c in class_names], fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = shown.max() / 2 if shown.size else 0
    for i in range(n):
        for j in range(n):
            text = f"{shown[i, j]:.2f}" if normalize else str(counts[i, j])
            ax.text(
                j, i, text, ha="center", va="center", fontsize=6, color="white" if shown[i, j] > threshold else "black"
            )
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(title or f"confusion matrix (accuracy {accuracy:.4f})", fontsize=9)
    return finish(fig, path)


def plot_augmented_samples(pipeline, images, path=None, n_variants=6, seed=None):
    """A grid: each row an original image, then ``n_variants`` draws of ``pipeline`` (run
    with ``training=True``). Images are fed as given (uint8 or floats in the pipeline's
    value range); tiles are scaled per image for display."""
    import keras

    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if seed is not None:
        keras.utils.set_random_seed(seed)
    batch = images.astype("float32")
    if images.dtype == np.uint8:
        batch = batch / 255.0
    tiles = []
    for original in batch:
        tiles.append(original)
        draws = np.repeat(original[None], n_variants, axis=0)
        tiles.extend(np.asarray(keras.ops.convert_to_numpy(pipeline(draws, training=True))))
    titles = (["original"] + [f"#{i + 1}" for i in range(n_variants)]) * len(batch)
    return image_grid(
        np.clip(tiles, 0, None),
        path,
        titles=titles,
        ncols=n_variants + 1,
        suptitle="augmentation: "
        + ", ".join(layer.name.removeprefix("augment_") for layer in getattr(pipeline, "layers", [pipeline])),
    )


def plot_pooling(image, sizes, path=None, modes=("max", "average")):
    """``image`` and its max / average pooled versions at each window size (slide 44)."""
    from toolkit.filters import pool_image

    image = np.asarray(image)
    shown = image.astype("float32") / 255.0 if image.dtype == np.uint8 else image
    fig, axes = new_figure(ncols=len(sizes) + 1, nrows=len(modes), width=2.6, height=2.4)
    for r, mode in enumerate(modes):
        panels = [(f"original {image.shape[0]}x{image.shape[1]}", shown)]
        for size in sizes:
            pooled = pool_image(shown, size, mode=mode)
            panels.append((f"{mode} {size}x{size} -> {pooled.shape[0]}x{pooled.shape[1]}", pooled))
        for ax, (title, data) in zip(axes[r], panels):
            data = np.clip(data, 0.0, 1.0)
            ax.imshow(
                data[..., 0] if data.ndim == 3 and data.shape[-1] == 1 else data, cmap="gray", interpolation="nearest"
            )
            ax.set_title(title, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    return finish(fig, path)


def plot_kernels_applied(image, kernel_names, path=None, stride=1, padding="valid"):
    """``image`` and the feature map of each fixed kernel (slides 35–41; grayscale)."""
    from toolkit.filters import apply_kernels

    maps = apply_kernels(image, list(kernel_names), stride=stride, padding=padding)[0]
    tiles = [np.asarray(image)] + [maps[:, :, i] for i in range(maps.shape[-1])]
    return image_grid(
        tiles,
        path,
        titles=["image"] + list(map(str, kernel_names)),
        ncols=len(tiles),
        size=2.0,
        suptitle=f"fixed kernels (stride {stride}, {padding} padding)",
    )


def grace_hopper(size=None):
    """matplotlib's sample photograph (``grace_hopper.jpg``, 600x512 RGB, shipped with
    matplotlib: no download) as uint8 (H, W, 3); ``size=(h, w)`` resizes it."""
    from matplotlib import cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        photo = Image.open(handle).convert("RGB")
        if size is not None:
            photo = photo.resize((size[1], size[0]))
        return np.asarray(photo, dtype=np.uint8)
