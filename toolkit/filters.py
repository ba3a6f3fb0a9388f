"""Fixed filters, pooling and the shift/rotate helpers of the invariance measurement
(slides 35–44, 55).

A filter computes each cell from its neighbours (slides 35–37); a CNN *learns* such
kernels (slides 38–41). :func:`apply_kernels` runs fixed kernels through a
``keras.layers.Conv2D`` whose weights are set to them, so it is exactly the operation a
CNN layer performs: a cross-correlation (the kernel is not flipped), one feature map per
kernel. :func:`pool_image` runs Keras's pooling layers (slides 43–44).

:func:`shift_images`, :func:`rotate_images` and :func:`invariance_curve` measure how a
trained model's accuracy falls when test images are shifted (slide 42: translation
invariance) or rotated (slide 55: a CNN is *not* rotation invariant).

Nothing here trains, downloads or plots at import.
"""

import numpy as np

from toolkit.errors import ToolkitError, check_choice, check_int, check_number

# Kernels as (kh, kw) float arrays, named as the lecture and image processing name them.
KERNELS = {
    # Slides 36–37: 1 at the centre, 0.5 on the eight neighbours (not normalised).
    "lecture_blur": np.array([[0.5, 0.5, 0.5], [0.5, 1.0, 0.5], [0.5, 0.5, 0.5]]),
    # Slides 38–41: the "X" pattern detector.
    "x_pattern": np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]),
    "identity": np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]),
    "box_blur": np.full((3, 3), 1.0 / 9.0),
    "gaussian": np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16.0,
    "sobel_x": np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]),
    "sobel_y": np.array([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]),
    "laplacian": np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]),
    "edges": np.array([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]]),
    "sharpen": np.array([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]]),
}

CHANNEL_MODES = ("gray", "sum", "depthwise")
PADDINGS = ("valid", "same")
POOL_MODES = ("max", "average")


def get_kernel(spec):
    """The 2-D float kernel for a name of :data:`KERNELS` or an array-like.

    Example:
        >>> get_kernel("x_pattern").tolist()[0]
        [1.0, 0.0, 1.0]
    """
    if isinstance(spec, str):
        check_choice("kernel", spec, tuple(KERNELS))
        return KERNELS[spec].astype("float32")
    kernel = np.asarray(spec, dtype="float32")
    if kernel.ndim != 2 or min(kernel.shape) < 1:
        raise ToolkitError(f"a kernel must be a name or a 2-D array; received shape {kernel.shape}")
    return kernel


def _as_batch(images, what="images"):
    """(H, W) -> (1, H, W, 1); (H, W, C) -> (1, H, W, C); (N, H, W, C) as is; float32."""
    array = np.asarray(images)
    if array.ndim == 2:
        array = array[None, :, :, None]
    elif array.ndim == 3:
        array = array[None]
    elif array.ndim != 4:
        raise ToolkitError(f"{what} must be (H, W), (H, W, C) or (N, H, W, C); received shape {array.shape}")
    return array.astype("float32")


def _to_gray(batch):
    if batch.shape[-1] == 1:
        return batch
    if batch.shape[-1] == 3:  # ITU-R BT.601 luma, as PIL's convert("L")
        return (batch @ np.array([0.299, 0.587, 0.114], dtype="float32"))[..., None]
    return batch.mean(axis=-1, keepdims=True)


def apply_kernels(images, kernels, stride=1, padding="valid", channels="gray"):
    """Feature maps of fixed ``kernels`` over ``images`` through a ``Conv2D`` with set weights.

    Args:
        images: one image (H, W) or (H, W, C), or a batch (N, H, W, C); uint8 or float.
            Values are used as given (no rescaling), so slide 38's 0/1 image gives its
            integer counts.
        kernels: a name of :data:`KERNELS`, a 2-D array, or a list of them (all the same size).
        stride: the convolution stride (slide 51).
        padding: ``"valid"`` drops the border cells that cannot be computed (slide 37);
            ``"same"`` pads with zeros to keep the size.
        channels: how a multi-channel image meets a 2-D kernel. ``"gray"`` (default)
            converts to luminance first, one map per kernel; ``"sum"`` applies the kernel
            to every channel and sums, as a Conv2D with the kernel repeated over its input
            channels does; ``"depthwise"`` keeps the channels apart, giving C maps per
            kernel, ordered channel-major (map ``c * K + k``).

    Returns:
        float32 array (N, H', W', K) (K times C for ``"depthwise"``); always 4-D.

    Example (slide 38):
        >>> image = [[1, 1, 0, 1, 1], [0, 0, 1, 1, 1], [0, 0, 1, 0, 0], [1, 1, 0, 1, 0], [0, 1, 1, 0, 0]]
        >>> apply_kernels(image, "x_pattern")[0, :, :, 0].astype(int).tolist()
        [[2, 3, 3], [2, 4, 2], [3, 1, 3]]
    """
    import keras

    check_choice("padding", padding, PADDINGS)
    check_choice("channel mode", channels, CHANNEL_MODES)
    stride = check_int("stride", stride, low=1)
    specs = list(kernels) if isinstance(kernels, (list, tuple)) else [kernels]
    if not specs:
        raise ToolkitError("kernels must name at least one kernel; received an empty list")
    stack = [get_kernel(spec) for spec in specs]
    shapes = sorted({k.shape for k in stack})
    if len(shapes) > 1:
        raise ToolkitError(f"all kernels must have the same size; received sizes {shapes}")
    weights = np.stack(stack, axis=-1)  # (kh, kw, K)
    batch = _as_batch(images)
    kh, kw = shapes[0]
    if padding == "valid" and (batch.shape[1] < kh or batch.shape[2] < kw):
        raise ToolkitError(
            f"a {kh}x{kw} kernel with valid padding needs an image of at least {kh}x{kw}; "
            f"received {batch.shape[1]}x{batch.shape[2]}"
        )
    if channels == "gray":
        batch = _to_gray(batch)
        kernel = weights[:, :, None, :]
    elif channels == "sum":
        kernel = np.repeat(weights[:, :, None, :], batch.shape[-1], axis=2)
    if channels == "depthwise":
        layer = keras.layers.DepthwiseConv2D(
            (kh, kw), strides=stride, padding=padding, depth_multiplier=len(stack), use_bias=False
        )
        kernel = np.repeat(weights[:, :, None, :], batch.shape[-1], axis=2)
    else:
        layer = keras.layers.Conv2D(len(stack), (kh, kw), strides=stride, padding=padding, use_bias=False)
    layer.build(batch.shape)
    layer.set_weights([kernel.astype("float32")])
    return np.asarray(keras.ops.convert_to_numpy(layer(batch)), dtype="float32")


def pool_image(image, size, mode="max", strides=None):
    """Max or average pooling of an image with ``size`` x ``size`` windows (slides 43–44).

    Runs ``keras.layers.MaxPooling2D`` or ``AveragePooling2D`` (valid padding; stride =
    ``size`` unless given), so a 600x800 photo pooled 8x8 becomes 75x100. The result has
    the input's layout ((H, W), (H, W, C) or (N, H, W, C)) and is float32.

    Example:
        >>> pool_image([[1, 2, 0, 0], [3, 4, 0, 8]], 2).tolist()
        [[4.0, 8.0]]
        >>> pool_image([[1, 2, 0, 0], [3, 4, 0, 8]], 2, mode="average").tolist()
        [[2.5, 2.0]]
    """
    import keras

    check_choice("pooling mode", mode, POOL_MODES)
    size = check_int("pool size", size, low=1)
    ndim = np.asarray(image).ndim
    batch = _as_batch(image, "image")
    if batch.shape[1] < size or batch.shape[2] < size:
        raise ToolkitError(
            f"cannot pool a {batch.shape[1]}x{batch.shape[2]} image with {size}x{size} windows; "
            f"use a size of at most {min(batch.shape[1:3])}"
        )
    cls = keras.layers.MaxPooling2D if mode == "max" else keras.layers.AveragePooling2D
    out = np.asarray(keras.ops.convert_to_numpy(cls(size, strides=strides or size)(batch)), dtype="float32")
    if ndim == 2:
        return out[0, :, :, 0]
    if ndim == 3:
        return out[0]
    return out


def shift_images(x, dx, dy):
    """Images moved ``dx`` pixels right and ``dy`` pixels down (negative: left/up).

    Cells shifted in are zero; nothing wraps around. Works on (H, W), (N, H, W) and
    (N, H, W, C) arrays of any dtype, which it keeps.

    Example:
        >>> shift_images(np.array([[1, 2, 3], [4, 5, 6]]), 1, 0).tolist()
        [[0, 1, 2], [0, 4, 5]]
        >>> shift_images(np.array([[1, 2, 3], [4, 5, 6]]), -1, -1).tolist()
        [[5, 6, 0], [0, 0, 0]]
    """
    x = np.asarray(x)
    if x.ndim < 2:
        raise ToolkitError(f"images must have at least 2 dimensions; received shape {x.shape}")
    dx, dy = check_int("dx", dx), check_int("dy", dy)
    # rows/cols axes: (H, W) for 2-D, (N, H, W) for 3-D, (N, H, W, C) for 4-D
    row_axis, col_axis = (0, 1) if x.ndim == 2 else (1, 2)
    out = np.zeros_like(x)
    h, w = x.shape[row_axis], x.shape[col_axis]
    if abs(dx) >= w or abs(dy) >= h:
        return out

    def span(d, n):
        return (slice(0, n - d), slice(d, n)) if d >= 0 else (slice(-d, n), slice(0, n + d))

    (src_r, dst_r), (src_c, dst_c) = span(dy, h), span(dx, w)
    src = [slice(None)] * x.ndim
    dst = [slice(None)] * x.ndim
    src[row_axis], dst[row_axis] = src_r, dst_r
    src[col_axis], dst[col_axis] = src_c, dst_c
    out[tuple(dst)] = x[tuple(src)]
    return out


def rotate_images(x, degrees):
    """Images rotated ``degrees`` counter-clockwise (as displayed) about their centre.

    Bilinear interpolation through ``keras.ops.image.affine_transform``; corners rotated in
    are zero. Works on (H, W), (N, H, W) and (N, H, W, C); the dtype is kept (integers are
    rounded). A multiple of 90 degrees on a square image equals ``np.rot90``.

    Example:
        >>> rotate_images(np.array([[1, 2], [3, 4]]), 90).tolist()
        [[2, 4], [1, 3]]
    """
    import keras

    x = np.asarray(x)
    if x.ndim not in (2, 3, 4):
        raise ToolkitError(f"images must be (H, W), (N, H, W) or (N, H, W, C); received shape {x.shape}")
    degrees = check_number("degrees", degrees)
    if degrees == 0.0:
        return x.copy()
    batch = x[None, :, :, None] if x.ndim == 2 else (x[..., None] if x.ndim == 3 else x)
    n, h, w = batch.shape[:3]
    theta = np.deg2rad(degrees)
    cos, sin = np.cos(theta), np.sin(theta)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    # affine_transform maps each output (x, y) to the input point (a0 x + a1 y + a2, b0 x + b1 y + b2).
    # Counter-clockwise on screen (rows pointing down): each output cell reads the input at the
    # output position turned clockwise on screen about the centre.
    a0, a1 = cos, -sin
    b0, b1 = sin, cos
    a2 = cx - a0 * cx - a1 * cy
    b2 = cy - b0 * cx - b1 * cy
    transform = np.tile(np.array([a0, a1, a2, b0, b1, b2, 0.0, 0.0], dtype="float32"), (n, 1))
    out = keras.ops.image.affine_transform(
        batch.astype("float32"), transform, interpolation="bilinear", fill_mode="constant", fill_value=0
    )
    out = np.asarray(keras.ops.convert_to_numpy(out))
    if np.issubdtype(x.dtype, np.integer):
        info = np.iinfo(x.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    out = out.astype(x.dtype)
    return out[0, :, :, 0] if x.ndim == 2 else (out[..., 0] if x.ndim == 3 else out)


INVARIANCE_KINDS = ("shift", "rotate")


def _accuracy(model, x, labels, batch_size):
    scores = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    return float(np.mean(np.argmax(scores, axis=-1) == labels))


def invariance_curve(model, x, y, kind="shift", amounts=None, batch_size=256):
    """Accuracy of a trained ``model`` on ``x`` shifted or rotated by each of ``amounts``.

    ``kind="shift"``: amounts in pixels (default 0–4); each amount's accuracy is the mean
    over the four directions (right, left, down, up), so no direction is favoured.
    ``kind="rotate"``: amounts in degrees (default 0, 5, 10, 15, 30, 45); the mean over
    clockwise and counter-clockwise. ``y`` holds integer labels or one-hot rows.

    Returns:
        dict amount -> accuracy (float in [0, 1]), in the order of ``amounts``.
    """
    check_choice("invariance kind", kind, INVARIANCE_KINDS)
    if amounts is None:
        amounts = (0, 1, 2, 3, 4) if kind == "shift" else (0, 5, 10, 15, 30, 45)
    x = np.asarray(x)
    labels = np.asarray(y)
    if labels.ndim > 1:
        labels = np.argmax(labels, axis=-1)
    if len(labels) != len(x):
        raise ToolkitError(f"x and y must have the same length; received {len(x)} and {len(labels)}")
    curve = {}
    for amount in amounts:
        if kind == "shift":
            a = check_int("shift amount", amount)
            moves = [(0, 0)] if a == 0 else [(a, 0), (-a, 0), (0, a), (0, -a)]
            variants = [shift_images(x, dx, dy) for dx, dy in moves]
        else:
            degrees = check_number("rotation amount", amount)
            variants = [x] if degrees == 0 else [rotate_images(x, degrees), rotate_images(x, -degrees)]
        curve[amount] = float(np.mean([_accuracy(model, v, labels, batch_size) for v in variants]))
    return curve
