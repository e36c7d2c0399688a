"""keras-parity: Keras/TensorFlow weight initializers as fast in-place torch functions.

>>> import torch, parity
>>> conv = torch.nn.Conv2d(3, 64, 3)
>>> parity.he_normal_(conv.weight)   # Keras "he_normal": a TRUNCATED normal, Keras's fans
"""

from parity import tf_random
from parity.check import CheckResult, check
from parity.fans import Layout, compute_fans, keras_shape
from parity.initializers import (
    KERAS_IDENTIFIERS,
    Initializer,
    constant_,
    describe,
    get,
    glorot_normal_,
    glorot_truncated_normal_,
    glorot_uniform_,
    glorot_untruncated_normal_,
    he_normal_,
    he_truncated_normal_,
    he_uniform_,
    he_untruncated_normal_,
    identity_,
    lecun_normal_,
    lecun_truncated_normal_,
    lecun_uniform_,
    lecun_untruncated_normal_,
    ones_,
    orthogonal_,
    random_normal_,
    random_uniform_,
    stft_,
    truncated_normal_,
    variance_scaling_,
    zeros_,
)
from parity.modules import (
    HyperparameterChange,
    KerasInitWarning,
    WeightPlan,
    keras_hyperparameters_,
    keras_init_,
    keras_init_plan,
)

__version__ = "0.1.0"

__all__ = [
    "KERAS_IDENTIFIERS",
    "CheckResult",
    "HyperparameterChange",
    "Initializer",
    "KerasInitWarning",
    "Layout",
    "WeightPlan",
    "check",
    "compute_fans",
    "constant_",
    "describe",
    "get",
    "glorot_normal_",
    "glorot_truncated_normal_",
    "glorot_uniform_",
    "glorot_untruncated_normal_",
    "he_normal_",
    "he_truncated_normal_",
    "he_uniform_",
    "he_untruncated_normal_",
    "identity_",
    "keras_hyperparameters_",
    "keras_init_",
    "keras_init_plan",
    "keras_shape",
    "lecun_normal_",
    "lecun_truncated_normal_",
    "lecun_uniform_",
    "lecun_untruncated_normal_",
    "ones_",
    "orthogonal_",
    "random_normal_",
    "random_uniform_",
    "stft_",
    "tf_random",
    "truncated_normal_",
    "variance_scaling_",
    "zeros_",
]
