"""The README's practitioner example runs as written: the pretraining callback on a user's own
Sequential model, a folder dataset, TensorBoard logs and a figure returned to a notebook."""

import os
import re

import numpy as np
from PIL import Image

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def _block(heading):
    text = open(README, encoding="utf-8").read()
    section = text[text.index(heading) :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_own_model_own_data_block_runs(tmp_path, monkeypatch):
    import matplotlib.figure

    code = _block("### Your own model, your own data, TensorBoard, a notebook")
    rng = np.random.default_rng(0)
    for c in ("circle", "square"):  # my_images/<class>/*.png, of two sizes (image_size resizes)
        os.makedirs(tmp_path / "my_images" / c)
        for i in range(8):
            size = (28, 28) if i % 2 else (32, 30)
            Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8), "L").save(
                tmp_path / "my_images" / c / f"{i}.png"
            )
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(code, README, "exec"), scope)
    assert isinstance(scope["fig"], matplotlib.figure.Figure)
    assert [str(s) for s in scope["pretraining"].result.stages][0] == "stage 1/3: 784 → 64"
    assert scope["ds"].x_train.shape[1:] == (28, 28, 1)
    events = [f for _, _, files in os.walk(tmp_path / "tb_logs") for f in files if "tfevents" in f]
    assert events
