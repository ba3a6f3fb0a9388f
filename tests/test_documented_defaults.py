"""Where a default departs from the lecture or from Keras, its docstring says so and why."""

import toolkit.activations as activations
from toolkit.activations import get_activation
from toolkit.layers import PReLU, RReLU


def test_departures_are_documented_next_to_the_defaults():
    module = " ".join(activations.__doc__.split())
    assert get_activation("leaky_relu").negative_slope == 0.2
    assert "slope is **0.2**: Keras's ``LeakyReLU`` defaults to 0.3 and the original paper" in module
    assert "0.01" in module
    prelu = " ".join(PReLU.__doc__.split())
    assert "slide 27 describes the Parametric ReLU as learning the slope of the *positive* range" in prelu
    assert "He et al." in prelu
    rrelu = " ".join(RReLU.__doc__.split())
    assert "the inference slope is the mean of the range, as PyTorch does" in rrelu
    assert "Xu et al. (2015)" in rrelu and "2 / (l + u)" in rrelu
