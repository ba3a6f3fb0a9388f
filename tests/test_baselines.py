import numpy as np
import pytest

from toolkit.baselines import PCA, pca_reconstruction_error
from toolkit.errors import ToolkitError


def test_pca_recovers_a_low_rank_subspace_exactly():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(10, 3)))[0].T  # 3 orthonormal directions in R^10
    x = (rng.normal(size=(200, 3)) * [3.0, 2.0, 1.0]) @ basis + 5.0
    assert pca_reconstruction_error(x, x, 3) < 1e-20
    assert pca_reconstruction_error(x, x, 2) > 0.05  # the third direction (variance ~1) over 10 dims
    pca = PCA.fit(x, 3)
    # components span the same subspace as the basis
    np.testing.assert_allclose(np.abs(np.linalg.det(pca.components @ basis.T)), 1.0, atol=1e-9)
    # decreasing variance, matching numpy's covariance eigenvalues
    assert pca.explained_variance[0] > pca.explained_variance[1] > pca.explained_variance[2]


def test_pca_error_equals_discarded_variance():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 6)) * np.arange(1, 7)
    values = np.sort(np.linalg.eigvalsh(np.cov(x, rowvar=False)))[::-1]
    err = pca_reconstruction_error(x, x, 4)
    # mean over entries of the squared residual = sum of the discarded eigenvalues * (n-1)/n / d
    np.testing.assert_allclose(err, values[4:].sum() * (499 / 500) / 6, rtol=1e-9)


def test_pca_bad_component_count():
    with pytest.raises(ToolkitError, match="n_components must be an int in 1..4; received 5"):
        PCA.fit(np.zeros((3, 4)), 5)
