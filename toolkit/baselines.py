"""Linear baselines the lecture's networks are measured against.

PCA (slides 4–6: the autoencoder as a learned, non-linear compression; PCA is its linear
counterpart). Written with numpy's symmetric eigendecomposition of the covariance (784x784
for MNIST: well under a second) because neither Keras nor TensorFlow ships a PCA.
"""

from dataclasses import dataclass

import numpy as np

from toolkit.errors import ToolkitError


@dataclass
class PCA:
    """Principal components of the training data (rows = samples)."""

    mean: np.ndarray
    components: np.ndarray  # (k, d), orthonormal rows, by decreasing variance
    explained_variance: np.ndarray

    @classmethod
    def fit(cls, x, n_components):
        x = np.asarray(x, np.float64).reshape(len(x), -1)
        d = x.shape[1]
        if (
            isinstance(n_components, bool)
            or not isinstance(n_components, (int, np.integer))
            or not 1 <= n_components <= d
        ):
            raise ToolkitError(f"n_components must be an int in 1..{d}; received {n_components!r}")
        mean = x.mean(axis=0)
        cov = np.cov(x - mean, rowvar=False)
        values, vectors = np.linalg.eigh(cov)
        order = np.argsort(values)[::-1][:n_components]
        return cls(mean, vectors[:, order].T, values[order])

    def encode(self, x):
        return (np.asarray(x, np.float64).reshape(len(x), -1) - self.mean) @ self.components.T

    def decode(self, codes):
        return codes @ self.components + self.mean

    def reconstruct(self, x):
        return self.decode(self.encode(x)).reshape(np.shape(x))


def pca_reconstruction_error(x_train, x_test, n_components):
    """Mean squared error of reconstructing ``x_test`` from ``n_components`` principal
    components fitted on ``x_train`` (same scale as the inputs)."""
    pca = PCA.fit(x_train, n_components)
    x_test = np.asarray(x_test, np.float64)
    return float(np.mean((pca.reconstruct(x_test) - x_test) ** 2))
