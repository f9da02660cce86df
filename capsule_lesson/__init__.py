"""capsule_lesson: the helper package of the Capsule Lesson course.

Routing is clustering, solved by iteration. NumPy pieces: squash, the two appetisers, the routing
reference, the two-digit test, data loaders. Keras 3 pieces: the capsule layers, margin loss and the
article's two models (importing the package registers the layers, so saved models load without
``custom_objects``).
"""

from ._quiet import quiet_native_stderr

with quiet_native_stderr():
    import keras  # noqa: F401  (imported here, quietly, before the modules that need it)

from .appetisers import aggregation_weights, fixed_point_inverse, inverse_by_bisection, softmax_aggregate
from .layers import Capsule, CapsuleLength, FeatureMapToCapsules
from .losses import MarginLoss, margin_loss
from .models import build_model, capsule_decoder_model, capsule_model, cnn_baseline
from .decoder import (MaskCapsules, ReconstructionLoss, decoder_views, dimension_sweep,
                      within_class_stats)
from .data import (DataFileError, DatasetNotFoundError, SubsetWarning, load_fashion_mnist, load_fashion_mnist_test,
                   load_mnist, load_mnist_test)
from .pretrained import PRETRAINED, load_pretrained, pretrained_record
from .routing import (RoutingResult, coupling_entropy, dynamic_routing, em_routing, em_step, kmeans_routing, route,
                      uniform_routing)
from .routing_settings import AGGREGATES, EM_VARIANCE_PRIOR, ROUTING_UPDATES, ROUTINGS
from .squash import SQUASH_CONSTANTS, SQUASH_VARIANTS, squash
from .two_digit import (PairAccuracy, SingleAccuracy, found_by_class, one_digit_blank_test_set, pair_accuracies,
                        pair_hits, single_accuracies, two_digit_test_set)

__version__ = "0.1.0"

__all__ = [
    "SQUASH_VARIANTS", "SQUASH_CONSTANTS", "squash",
    "fixed_point_inverse", "inverse_by_bisection", "softmax_aggregate", "aggregation_weights",
    "ROUTING_UPDATES", "RoutingResult", "dynamic_routing", "coupling_entropy",
    "ROUTINGS", "AGGREGATES", "route", "kmeans_routing", "em_routing", "em_step", "uniform_routing", "EM_VARIANCE_PRIOR",
    "load_mnist", "load_fashion_mnist", "load_mnist_test", "load_fashion_mnist_test",
    "DataFileError", "DatasetNotFoundError", "SubsetWarning",
    "two_digit_test_set", "pair_accuracies", "PairAccuracy", "found_by_class", "pair_hits",
    "one_digit_blank_test_set", "single_accuracies", "SingleAccuracy",
    "Capsule", "CapsuleLength", "FeatureMapToCapsules", "MarginLoss", "margin_loss",
    "cnn_baseline", "capsule_model", "build_model", "PRETRAINED",
    "capsule_decoder_model", "decoder_views", "dimension_sweep", "within_class_stats", "MaskCapsules",
    "ReconstructionLoss", "load_pretrained", "pretrained_record",
]
