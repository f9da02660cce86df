"""The settings of routing, and their checks: shared by the NumPy references and the Keras layer."""

import numpy as np

from .checks import whole_number

#: The names of the logit update rules.
ROUTING_UPDATES = ("replace", "accumulate")
#: The routing algorithms: the article's, soft k-means, Gaussian-mixture EM, and uniform couplings.
ROUTINGS = ("dynamic", "kmeans", "em", "uniform")
#: How s_j gathers the predictions: ``"sum"`` (the article), or ``"mean"``, the coupling-weighted mean
#: ``sum_i c_ij û_{j|i} / max(sum_i c_ij, 1)``, whose length does not grow with the number of input capsules.
AGGREGATES = ("sum", "mean")
#: EM's variances are MAP estimates under a weak prior: one pseudo-observation of this variance per
#: dimension, so that a cluster holding one prediction (or none) keeps a finite, positive variance.
EM_VARIANCE_PRIOR = 1e-2


def check_routing(routing):
    if not isinstance(routing, str) or routing not in ROUTINGS:
        raise ValueError(f"unknown routing {routing!r}; choose one of {', '.join(ROUTINGS)}")
    return routing


def check_temperature(temperature):
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.floating, np.integer)) \
            or not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return float(temperature)


def check_update(update):
    if not isinstance(update, str) or update not in ROUTING_UPDATES:
        raise ValueError(
            f"unknown routing update {update!r}; choose one of {', '.join(ROUTING_UPDATES)}")
    return update


def check_routings(routings):
    return whole_number(routings, "routings", 1, "an integer >= 1")


def check_aggregate(aggregate):
    if not isinstance(aggregate, str) or aggregate not in AGGREGATES:
        raise ValueError(f"unknown aggregate {aggregate!r}; choose one of {', '.join(AGGREGATES)}")
    return aggregate


def check_leaky(leaky, routing="dynamic"):
    if not isinstance(leaky, (bool, np.bool_)):
        raise ValueError(f"leaky must be True or False, got {leaky!r}")
    if leaky and routing not in ("dynamic", "kmeans"):
        raise ValueError(f"leaky (an orphan output with logit 0) is a setting of dynamic and kmeans routing, "
                         f"not of {routing} routing")
    return bool(leaky)


def check_settings_fit_the_rule(routing, update="replace", inner_squash=None, temperature=1.0):
    """``update`` and ``inner_squash`` belong to dynamic routing, ``temperature`` to k-means: other values are
    an error for another rule (they would be silently ignored)."""
    if routing != "dynamic" and (update != "replace" or inner_squash is not None):
        raise ValueError(f"update and inner_squash are settings of dynamic routing, not of {routing} routing "
                         f"(got update={update!r}, inner_squash={inner_squash!r})")
    if routing != "kmeans" and temperature != 1.0:
        raise ValueError(f"temperature is a setting of kmeans routing, not of {routing} routing "
                         f"(got temperature={temperature!r})")
