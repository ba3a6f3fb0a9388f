"""Fixed kernels, pooling and the shift/rotate helpers (slides 35–44) against NumPy."""

import numpy as np
import pytest

from toolkit.errors import ToolkitError
from toolkit.filters import (
    KERNELS,
    apply_kernels,
    get_kernel,
    invariance_curve,
    pool_image,
    rotate_images,
    shift_images,
)

SLIDE38_IMAGE = np.array([[1, 1, 0, 1, 1], [0, 0, 1, 1, 1], [0, 0, 1, 0, 0], [1, 1, 0, 1, 0], [0, 1, 1, 0, 0]])
SLIDE38_KERNEL = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]])
SLIDE38_MAP = np.array([[2, 3, 3], [2, 4, 2], [3, 1, 3]])


def correlate(image, kernel, stride=1, padding="valid"):
    """NumPy reference: a Conv2D is a cross-correlation (the kernel is not flipped)."""
    kh, kw = kernel.shape
    if padding == "same":  # TF/Keras "same": output ceil(n / s), extra padding at the end
        pads = []
        for n, k in zip(image.shape, kernel.shape):
            out = -(-n // stride)
            total = max((out - 1) * stride + k - n, 0)
            pads.append((total // 2, total - total // 2))
        image = np.pad(image, pads)
    h = (image.shape[0] - kh) // stride + 1
    w = (image.shape[1] - kw) // stride + 1
    out = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            out[i, j] = np.sum(image[i * stride : i * stride + kh, j * stride : j * stride + kw] * kernel)
    return out


def test_slide38_feature_map_exactly():
    maps = apply_kernels(SLIDE38_IMAGE, SLIDE38_KERNEL)
    assert maps.shape == (1, 3, 3, 1)
    np.testing.assert_array_equal(maps[0, :, :, 0], SLIDE38_MAP)
    np.testing.assert_array_equal(apply_kernels(SLIDE38_IMAGE.astype(np.uint8), "x_pattern")[0, :, :, 0], SLIDE38_MAP)


def test_lecture_blur_kernel_drops_the_border():
    assert get_kernel("lecture_blur")[1, 1] == 1.0 and get_kernel("lecture_blur")[0, 0] == 0.5
    image = np.random.default_rng(0).integers(0, 256, size=(9, 7))
    maps = apply_kernels(image, "lecture_blur")
    assert maps.shape == (1, 7, 5, 1)  # valid padding: one border cell lost on each side
    np.testing.assert_allclose(maps[0, :, :, 0], correlate(image, KERNELS["lecture_blur"]), rtol=1e-5)


@pytest.mark.parametrize("stride,padding", [(1, "valid"), (2, "valid"), (1, "same"), (2, "same")])
def test_classic_kernels_match_numpy(stride, padding):
    image = np.random.default_rng(1).integers(0, 256, size=(11, 10)).astype(np.uint8)
    names = ["box_blur", "gaussian", "sobel_x", "sobel_y", "laplacian", "edges", "sharpen", "identity"]
    maps = apply_kernels(image, names, stride=stride, padding=padding)
    assert maps.shape[-1] == len(names)  # several kernels -> several feature maps
    for k, name in enumerate(names):
        np.testing.assert_allclose(
            maps[0, :, :, k], correlate(image.astype(float), KERNELS[name], stride, padding), rtol=1e-5, atol=1e-3
        )


def test_channel_modes_on_a_colour_batch():
    images = np.random.default_rng(2).random((2, 6, 6, 3)).astype("float32")
    kernel = KERNELS["sobel_x"]
    summed = apply_kernels(images, kernel, channels="sum")
    np.testing.assert_allclose(
        summed[1, :, :, 0], sum(correlate(images[1, :, :, c], kernel) for c in range(3)), rtol=1e-4, atol=1e-5
    )
    depthwise = apply_kernels(images, ["sobel_x", "sobel_y"], channels="depthwise")
    assert depthwise.shape == (2, 4, 4, 6)
    np.testing.assert_allclose(
        depthwise[0, :, :, 2 * 2 + 1], correlate(images[0, :, :, 2], KERNELS["sobel_y"]), rtol=1e-4, atol=1e-5
    )
    gray = apply_kernels(images, kernel)
    luma = images @ np.array([0.299, 0.587, 0.114], dtype="float32")
    np.testing.assert_allclose(gray[0, :, :, 0], correlate(luma[0], kernel), rtol=1e-4, atol=1e-5)


def test_kernel_errors_are_one_line_value_errors():
    with pytest.raises(ValueError, match="unknown kernel 'sobel'.*sobel_x"):
        apply_kernels(SLIDE38_IMAGE, "sobel")
    with pytest.raises(ToolkitError, match="same size"):
        apply_kernels(SLIDE38_IMAGE, [np.ones((3, 3)), np.ones((2, 2))])
    with pytest.raises(ToolkitError, match="at least 3x3"):
        apply_kernels(np.ones((2, 2)), "x_pattern")
    with pytest.raises(ToolkitError, match="padding"):
        apply_kernels(SLIDE38_IMAGE, "x_pattern", padding="full")


@pytest.mark.parametrize("mode,reduce", [("max", np.max), ("average", np.mean)])
def test_pooling_matches_numpy_reshape_on_a_photograph(mode, reduce):
    from toolkit.plots.cnn import grace_hopper

    photo = grace_hopper()[:592, :512]  # 600x512 RGB, shipped with matplotlib; crop to a multiple of 16
    for size in (4, 8, 16):  # slide 44
        pooled = pool_image(photo, size, mode=mode)
        h, w = photo.shape[0] // size, photo.shape[1] // size
        expected = reduce(photo.astype("float32").reshape(h, size, w, size, 3), axis=(1, 3))
        assert pooled.shape == (h, w, 3)
        np.testing.assert_allclose(pooled, expected, rtol=1e-5, atol=1e-3)


def test_pooling_keeps_layout_and_checks_size():
    batch = np.random.default_rng(3).random((2, 8, 8, 1)).astype("float32")
    assert pool_image(batch, 4).shape == (2, 2, 2, 1)
    assert pool_image(batch[0, :, :, 0], 4).shape == (2, 2)
    with pytest.raises(ToolkitError, match="cannot pool a 8x8 image with 16x16"):
        pool_image(batch, 16)
    with pytest.raises(ToolkitError, match="pooling mode"):
        pool_image(batch, 2, mode="min")


def test_shift_images_fills_zeros_without_wrapping():
    x = np.arange(1, 2 * 4 * 5 + 1, dtype=np.uint8).reshape(2, 4, 5, 1)
    right = shift_images(x, 2, 0)
    assert right.dtype == np.uint8 and right.shape == x.shape
    np.testing.assert_array_equal(right[:, :, 2:], x[:, :, :-2])
    assert not right[:, :, :2].any()
    up = shift_images(x[..., 0], 0, -1)
    np.testing.assert_array_equal(up[:, :-1], x[:, 1:, :, 0])
    assert not up[:, -1].any()
    assert not shift_images(x, 5, 0).any()
    np.testing.assert_array_equal(shift_images(x, 0, 0), x)


def test_rotate_images_matches_rot90_and_keeps_dtype():
    x = np.random.default_rng(4).integers(0, 256, size=(3, 6, 6, 1)).astype(np.uint8)
    rotated = rotate_images(x, 90)
    assert rotated.dtype == np.uint8
    np.testing.assert_array_equal(rotated, np.rot90(x, 1, axes=(1, 2)))
    np.testing.assert_array_equal(rotate_images(x[..., 0], -90), np.rot90(x[..., 0], -1, axes=(1, 2)))
    np.testing.assert_array_equal(rotate_images(x, 0), x)
    small = rotate_images(x.astype("float32"), 10)
    assert small.shape == x.shape and not np.allclose(small, x)


class _CentreOfMassModel:
    """A stand-in classifier: class 1 when the bright pixels' centre lies right of the middle."""

    def predict(self, x, batch_size=None, verbose=0):
        cols = np.arange(x.shape[2])
        mass = x.reshape(len(x), x.shape[1], x.shape[2]).sum(axis=1)
        centre = (mass * cols).sum(axis=1) / np.maximum(mass.sum(axis=1), 1)
        right = centre > (x.shape[2] - 1) / 2
        return np.stack([~right, right], axis=1).astype("float32")


def test_invariance_curve_reports_accuracy_per_amount():
    x = np.zeros((4, 8, 8, 1), dtype=np.uint8)
    x[0, 3, 6], x[1, 4, 7], x[2, 3, 1], x[3, 4, 0] = 255, 255, 255, 255
    y = np.array([1, 1, 0, 0])
    curve = invariance_curve(_CentreOfMassModel(), x, y, kind="shift", amounts=(0, 1, 5))
    assert list(curve) == [0, 1, 5]
    assert curve[0] == 1.0
    assert curve[5] < 1.0  # shifted far, the pixels cross the middle or leave the image
    rotated = invariance_curve(_CentreOfMassModel(), x, np.eye(2)[y], kind="rotate", amounts=(0, 180))
    assert rotated[0] == 1.0 and rotated[180] == 0.0
    with pytest.raises(ValueError, match="invariance kind"):
        invariance_curve(_CentreOfMassModel(), x, y, kind="scale")


@pytest.mark.backends
def test_invariance_curve_with_a_keras_model():
    from toolkit.cnn import build_cnn

    model = build_cnn((8, 8, 1), blocks=[{"filters": 2, "pool": "max"}], dense_units=(), num_classes=3)
    x = np.random.default_rng(5).integers(0, 256, size=(6, 8, 8, 1)).astype(np.uint8)
    y = np.argmax(model.predict(x, verbose=0), axis=-1)
    curve = invariance_curve(model, x, y, amounts=(0, 2))
    assert curve[0] == 1.0 and 0.0 <= curve[2] <= 1.0
