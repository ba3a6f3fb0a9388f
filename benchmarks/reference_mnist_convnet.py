"""The plain Keras "simple MNIST convnet" (keras-io ``examples/vision/mnist_convnet.py``),
the reference of goal 1: no toolkit code at all.

    Conv2D 32 3x3 relu -> MaxPool 2 -> Conv2D 64 3x3 relu -> MaxPool 2 -> Flatten ->
    Dropout 0.5 -> Dense 10 softmax; Adam; batch 128; categorical cross-entropy on
    one-hot labels; images scaled to float32 [0, 1] *before* ``fit``, as the example does.

Run alone (the example's 15 epochs, test accuracy each epoch):

    python -m benchmarks.reference_mnist_convnet --data-dir ./data --epochs 15
"""

import argparse
import time

import numpy as np

BATCH_SIZE = 128


def prepare_data(x_train, y_train, x_test, y_test, num_classes=10):
    """The example's preprocessing: float32 x/255 with a channel axis, one-hot labels."""
    import keras

    def scale(x):
        x = x.astype("float32") / 255
        return x if x.ndim == 4 else np.expand_dims(x, -1)

    return (
        scale(x_train),
        keras.utils.to_categorical(y_train, num_classes),
        scale(x_test),
        keras.utils.to_categorical(y_test, num_classes),
    )


def build_model(input_shape=(28, 28, 1), num_classes=10):
    """The example's model, compiled as the example compiles it."""
    import keras
    from keras import layers

    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="reference_simple_convnet",
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args(argv)
    from toolkit.data import load_dataset

    ds = load_dataset("mnist", data_dir=args.data_dir)
    x_train, y_train, x_test, y_test = prepare_data(ds.x_train, ds.y_train, ds.x_test, ds.y_test)
    model = build_model(x_train.shape[1:])
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=1, verbose=0)
        seconds = time.perf_counter() - start
        _, acc = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
        print(f"epoch {epoch}: {seconds:.2f} s, test accuracy {acc:.4f}", flush=True)


if __name__ == "__main__":
    main()
