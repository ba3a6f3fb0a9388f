"""What the toolkit knows about each dataset: shapes, classes, files and checksums."""

from dataclasses import dataclass, field

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# MD5 of the decompressed payloads of the canonical MNIST files (published checksums).
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset's fixed facts. ``subdir`` is its folder under the data directory."""

    name: str
    image_shape: tuple
    class_names: tuple
    train_size: int
    test_size: int
    subdir: str = ""
    files: dict = field(default_factory=dict)
    md5: dict = field(default_factory=dict)
    tfds_name: str = ""
    url: str = ""

    @property
    def num_classes(self):
        return len(self.class_names)


DATASETS = {
    "mnist": DatasetInfo(
        name="mnist",
        image_shape=(28, 28, 1),
        class_names=tuple(str(d) for d in range(10)),
        train_size=60000,
        test_size=10000,
        subdir="mnist",
        files=MNIST_FILES,
        md5=MNIST_MD5,
        tfds_name="mnist",
        url="https://yann.lecun.org/exdb/mnist/ (or ../shared/data/prepare.py DIR)",
    ),
    "fashion_mnist": DatasetInfo(
        name="fashion_mnist",
        image_shape=(28, 28, 1),
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        train_size=60000,
        test_size=10000,
        subdir="fashion-mnist",
        files=MNIST_FILES,
        tfds_name="fashion_mnist",
        url="apt-get install dataset-fashion-mnist, or github.com/zalandoresearch/fashion-mnist",
    ),
    "cifar10": DatasetInfo(
        name="cifar10",
        image_shape=(32, 32, 3),
        class_names=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        train_size=50000,
        test_size=10000,
        subdir="cifar-10-batches-bin",
        files={
            "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
            "test": ("test_batch.bin",),
            "tarball": "cifar-10-binary.tar.gz",
        },
        tfds_name="cifar10",
        url="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz (or ../shared/data/prepare.py DIR)",
    ),
    "shapes": DatasetInfo(
        name="shapes",
        image_shape=(28, 28, 1),
        class_names=("square", "circle", "triangle", "plus", "x", "ring", "diamond", "star", "bar", "corner"),
        train_size=6000,
        test_size=1000,
    ),
}

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def list_datasets():
    """Names accepted by :func:`toolkit.data.load_dataset`."""
    return sorted(DATASETS)
