"""filters — filters, feature maps and pooling, nothing learned (slides 31–44).

Slide 38 reproduced exactly: the 5x5 binary image convolved with the X kernel gives the
3x3 feature map ``2 3 3 / 2 4 2 / 3 1 3``. Then the lecture's blur (slides 36–37), the X
pattern and classic kernels (box blur, Gaussian, Sobel, Laplacian, sharpen) on a real
photograph (matplotlib's ``grace_hopper.jpg``, shipped with matplotlib) and on dataset
digits; then max and average pooling at 4x4, 8x8 and 16x16 (slide 44). Every filter runs
through a Keras ``Conv2D`` with set weights — the operation a CNN learns.

Run:     make filters             (QUICK=1: the quick form)
Cost:    seconds; nothing is trained.
"""

import numpy as np

from toolkit.claims import Claim
from toolkit.filters import KERNELS, apply_kernels, pool_image
from toolkit.plots.base import image_grid
from toolkit.plots.cnn import grace_hopper, plot_kernels_applied, plot_pooling
from toolkit.runs.experiment import experiment
from toolkit.runs.spec import Param, RunSpec, choice, whole

SLIDE38_IMAGE = [[1, 1, 0, 1, 1], [0, 0, 1, 1, 1], [0, 0, 1, 0, 0], [1, 1, 0, 1, 0], [0, 1, 1, 0, 0]]
SLIDE38_KERNEL = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
SLIDE38_EXPECTED = [[2, 3, 3], [2, 4, 2], [3, 1, 3]]


SPEC = RunSpec(dataset="mnist", epochs=1, limit=100, test_limit=10)  # nothing is trained
PARAMS = {
    "kernels": Param(
        ["lecture_blur", "x_pattern", "box_blur", "gaussian", "sobel_x", "sobel_y", "laplacian", "sharpen"],
        choice(sorted(KERNELS), kind="kernel"),
    ),
    "pool_sizes": Param([4, 8, 16], whole(1, 64)),
    "digits": Param(4, whole(1, 10)),
}


def _sizes(m):
    c = m["conv_sizes"]
    return {"input": c["input"], "valid": c["valid"], "same": c["same"], "stride 2": c["stride2"]}


def _pooling(m):
    p = m["pooling"]
    return {
        "windows": p["windows"],
        "mean before": p["mean_before"],
        "mean after average": p["mean_average"],
        "mean after max": p["mean_max"],
        "values per output": p["values_per_output"],
    }


CLAIMS = (
    Claim(
        "slide38-feature-map",
        "38–41",
        "the X kernel slid over slide 38's 5x5 image gives its 3x3 feature map",
        "the Conv2D's output equals 2 3 3 / 2 4 2 / 3 1 3 exactly",
        measure=lambda m: {"feature map": m["slide38"]["feature_map"], "slide 38": SLIDE38_EXPECTED},
        holds=lambda v: v["feature map"] == v["slide 38"],
    ),
    Claim(
        "conv-output-sizes",
        "36–37, 51",
        "valid padding drops the border, same padding keeps the size, a stride of 2 halves it",
        "a 3x3 kernel on an HxW image gives (H-2)x(W-2) valid, HxW same, ((H-3)//2+1)x((W-3)//2+1) with stride 2",
        measure=_sizes,
        holds=lambda v: (
            v["valid"] == [h - 2 for h in v["input"]]
            and v["same"] == v["input"]
            and v["stride 2"] == [(h - 3) // 2 + 1 for h in v["input"]]
        ),
    ),
    Claim(
        "pooling-brightness",
        "43–44",
        "average pooling keeps the mean brightness, max pooling raises it, and a w×w window keeps 1/w² of the values",
        "at every window w: |mean after average - mean before| <= 0.01, mean after max > mean before, and "
        "values per output within 5 % of w²",
        measure=_pooling,
        holds=lambda v: all(
            abs(a - v["mean before"]) <= 0.01 and mx > v["mean before"] and abs(r - w * w) <= 0.05 * w * w
            for w, a, mx, r in zip(v["windows"], v["mean after average"], v["mean after max"], v["values per output"])
        ),
    ),
)


QUICK = {"pool_sizes": [4, 8], "digits": 2}


@experiment(
    name="filters",
    slides="31–44",
    order=6,
    title="Filters, feature maps and pooling",
    summary=(
        "Slide 38's convolution reproduced exactly, classic fixed kernels applied to a photograph and to "
        "digits through a Keras Conv2D, and max/average pooling at several window sizes (slides 31–44)."
    ),
    spec=SPEC,
    params=PARAMS,
    quick=QUICK,
    claims=CLAIMS,
)
def run(config, run):
    fmap = apply_kernels(SLIDE38_IMAGE, [SLIDE38_KERNEL])[0, :, :, 0]
    exact = fmap.astype(int).tolist() == SLIDE38_EXPECTED
    run.table(
        "Slide 38: the 5x5 image convolved with the X kernel (valid padding)",
        ["row", "computed feature map", "slide 38"],
        [[i + 1, " ".join(str(int(v)) for v in fmap[i]), " ".join(map(str, SLIDE38_EXPECTED[i]))] for i in range(3)],
    )
    run.metric("slide38.exact", exact)
    run.metric("slide38.feature_map", fmap.astype(int).tolist())
    run.observe(
        f"the Conv2D with the X kernel computed {fmap.astype(int).tolist()}: "
        f"{'exactly' if exact else 'NOT'} slide 38's feature map"
    )
    image_grid(
        [np.asarray(SLIDE38_IMAGE, float), np.asarray(SLIDE38_KERNEL, float), fmap],
        run.figure(
            "slide38.png",
            "Slide 38: image, X kernel, feature map (the kernel finds the X pattern where the map peaks at 4)",
        ),
        titles=["image 5x5", "kernel 3x3", "feature map 3x3"],
        ncols=3,
        size=2.0,
        cmap="viridis",
    )

    photo = grace_hopper()
    gray = photo.astype("float32").mean(axis=-1) / 255.0
    plot_kernels_applied(
        gray,
        config["kernels"],
        run.figure("kernels_photo.png", "Fixed kernels on a photograph (grayscale), valid padding (slides 35–41)"),
    )
    maps = apply_kernels(gray, config["kernels"])[0]
    rows = []
    for i, name in enumerate(config["kernels"]):
        m = maps[:, :, i]
        rows.append([name, f"{m.shape[0]}x{m.shape[1]}", float(m.min()), float(m.max()), float(np.abs(m).mean())])
    run.table(
        f"Feature maps of the {gray.shape[0]}x{gray.shape[1]} photograph (pixels in [0, 1])",
        ["kernel", "map size", "min", "max", "mean |value|"],
        rows,
    )
    strided = apply_kernels(gray, "gaussian", stride=2)[0, :, :, 0]
    same = apply_kernels(gray, "gaussian", padding="same")[0, :, :, 0]
    run.metric(
        "conv_sizes",
        {
            "input": list(gray.shape),
            "valid": list(maps.shape[:2]),
            "same": list(same.shape),
            "stride2": list(strided.shape),
        },
    )
    run.observe(
        f"on the {gray.shape[0]}x{gray.shape[1]} photo a 3x3 kernel with valid padding gives "
        f"{maps.shape[0]}x{maps.shape[1]} (the border is dropped, slide 37), with same padding "
        f"{same.shape[0]}x{same.shape[1]}, with stride 2 {strided.shape[0]}x{strided.shape[1]} (slide 51)"
    )
    edges = {r[0]: r[4] for r in rows}
    if "sobel_x" in edges and "box_blur" in edges:
        more = "less" if edges["sobel_x"] < edges["box_blur"] else "more"
        run.observe(
            f"the Sobel-x edge kernel responds {more} on average (mean |value| {edges['sobel_x']:.3f}) than "
            f"the box blur, which keeps the brightness ({edges['box_blur']:.3f})"
            + (": edges are rarer than brightness" if more == "less" else "")
        )

    ds = run.data()
    digits = ds.x_test[: config["digits"], :, :, 0].astype("float32") / 255.0
    for i, digit in enumerate(digits):
        plot_kernels_applied(
            digit,
            config["kernels"],
            run.figure(
                f"kernels_digit{i}.png", f"The same kernels on test image {i} (class {ds.class_names[ds.y_test[i]]})"
            ),
        )

    plot_pooling(
        photo,
        config["pool_sizes"],
        run.figure("pooling_photo.png", "Max (top) and average (bottom) pooling of the photograph (slide 44)"),
    )
    plot_pooling(
        ds.x_test[0],
        [s for s in config["pool_sizes"] if s <= ds.image_shape[0]],
        run.figure("pooling_digit.png", "Max and average pooling of a test image"),
    )
    prow = []
    for size in config["pool_sizes"]:
        mx, av = pool_image(gray, size, "max"), pool_image(gray, size, "average")
        ratio = gray.size / mx.size
        prow.append([f"{size}x{size}", f"{mx.shape[0]}x{mx.shape[1]}", ratio, float(mx.mean()), float(av.mean())])
    run.metric(
        "pooling",
        {
            "windows": list(config["pool_sizes"]),
            "mean_before": float(gray.mean()),
            "mean_max": [r[3] for r in prow],
            "mean_average": [r[4] for r in prow],
            "values_per_output": [r[2] for r in prow],
        },
    )
    run.table(
        "Pooling the photograph: nothing learned, a fixed rule per window (slides 43–44)",
        ["window", "output", "values per output", "mean after max", "mean after average"],
        prow,
    )
    run.observe(
        f"average pooling keeps the mean brightness ({gray.mean():.3f} before, "
        f"{prow[-1][4]:.3f} after {prow[-1][0]}) while max pooling raises it to {prow[-1][3]:.3f}; "
        f"{prow[-1][0]} pooling keeps 1 value in {prow[-1][2]:.0f}"
    )
    run.key_metrics(slide38_exact=exact, pool_windows=len(prow))
