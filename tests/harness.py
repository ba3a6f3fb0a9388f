"""One harness for every builder's test: a new builder's test is a few lines.

- :func:`run_model_saving_test`: ``.keras`` save/load (in process) gives identical outputs.
- :func:`predict_in_fresh_process`: the same, in a new Python process with no custom_objects.
- :func:`assert_every_weight_trains`: one SGD step changes every trainable variable (so each
  received a non-zero gradient) and produces no NaN.
- :func:`assert_overfits`: a tiny model drives the loss on a tiny batch far down.
"""

import os
import subprocess
import sys

import keras
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_model_saving_test(model, x, tmp_path, atol=1e-6):
    """Save ``model`` to ``.keras``, reload it through :func:`toolkit.saving.load_model`, and
    check the reloaded model's predictions equal the original's. Returns the path."""
    from toolkit.saving import load_model

    path = os.path.join(str(tmp_path), f"{model.name}.keras")
    model.save(path)
    reloaded = load_model(path)
    np.testing.assert_allclose(_predict(reloaded, x), _predict(model, x), atol=atol)
    assert [w.shape for w in reloaded.weights] == [w.shape for w in model.weights]
    return path


def _predict(model, x):
    out = model(x, training=False)
    if isinstance(out, (list, tuple)):
        return [keras.ops.convert_to_numpy(o) for o in out]
    return keras.ops.convert_to_numpy(out)


def predict_in_fresh_process(path, x, tmp_path):
    """Predictions of the model at ``path`` computed by a new Python process that only
    imports ``toolkit.saving`` and calls ``load_model`` (no ``custom_objects``)."""
    x_path = os.path.join(str(tmp_path), "x.npy")
    out_path = os.path.join(str(tmp_path), "y.npy")
    np.save(x_path, np.asarray(x))
    code = (
        "import numpy as np, keras\n"
        "from toolkit.saving import load_model\n"
        f"m = load_model({path!r})\n"
        f"np.save({out_path!r}, keras.ops.convert_to_numpy(m(np.load({x_path!r}), training=False)))\n"
    )
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return np.load(out_path)


def assert_every_weight_trains(model, x, y, loss, learning_rate=0.1):
    """One SGD step on (x, y) must change every trainable variable and keep them finite."""
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss=loss)
    before = [np.array(keras.ops.convert_to_numpy(v)) for v in model.trainable_variables]
    assert before, "model has no trainable variables"
    model.train_on_batch(x, y)
    unchanged = []
    for var, old in zip(model.trainable_variables, before):
        new = keras.ops.convert_to_numpy(var)
        assert np.all(np.isfinite(new)), f"{var.path} has non-finite values after one step"
        if np.array_equal(new, old):
            unchanged.append(var.path)
    assert not unchanged, f"no gradient reached: {unchanged}"


def assert_overfits(model, x, y, loss, epochs=200, factor=0.1, learning_rate=1e-2, batch_size=None):
    """Training on a tiny batch must cut the loss to below ``factor`` times its start."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    start = float(model.evaluate(x, y, verbose=0, batch_size=batch_size or len(x)))
    model.fit(x, y, epochs=epochs, batch_size=batch_size or len(x), verbose=0)
    end = float(model.evaluate(x, y, verbose=0, batch_size=batch_size or len(x)))
    assert end < factor * start, f"did not overfit: loss {start:.4g} -> {end:.4g}"
    return start, end
