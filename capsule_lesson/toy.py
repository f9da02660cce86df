"""A toy routing problem small enough to draw: "cats and dogs both have eyes".

Dynamic routing never sees the lower capsules ``u_i`` themselves, only their predictions
``û_{j|i}`` for every upper capsule ``j``. Here those predictions are 2-D vectors made by hand:

* three upper capsules, ``cat``, ``dog`` and ``car``, each with its own "true" direction;
* three parts of each object (a cat's whiskers, ...): a part that belongs to object ``j`` predicts a
  long vector close to ``j``'s direction (the predictions *agree*: they form a tight cluster), and
  short vectors in random directions for the other objects (no agreement);
* one part, ``eyes``, that belongs to two objects at once: its predictions agree with both the cat
  cluster and the dog cluster (the dog one a little less, ``dual_ratio`` < 1), and are random for the car.
"""

from dataclasses import dataclass

import numpy as np

UPPER_NAMES = ("cat", "dog", "car")
PARTS = {
    "cat": ("whiskers", "pointed ears", "long tail"),
    "dog": ("floppy ears", "wet nose", "wagging tail"),
    "car": ("wheel", "windscreen", "bumper"),
}
#: The part that belongs to two objects, and the objects it belongs to.
DUAL_PART = ("eyes", ("cat", "dog"))
#: Directions (degrees) of the three clusters, one per upper capsule.
CLUSTER_ANGLES = (40.0, 150.0, 260.0)


@dataclass
class ToyRouting:
    """A routing problem with known answers.

    ``u_hat``: predictions ``(n_in, n_out, 2)``; ``u_hat[i, j]`` is û_{j|i}.
    ``upper_names`` / ``lower_names``: labels of the ``n_out`` upper and ``n_in`` lower capsules.
    ``members``: ``(n_in, n_out)`` booleans, True where lower capsule i truly belongs to upper capsule j.
    ``dual``: index of the lower capsule that belongs to two upper capsules.
    ``directions``: ``(n_out, 2)`` unit vectors, the true direction of each cluster.
    """

    u_hat: np.ndarray
    upper_names: tuple
    lower_names: tuple
    members: np.ndarray
    dual: int
    directions: np.ndarray


def cats_and_dogs(seed=0, length=3.0, spread=0.25, dual_ratio=0.85, stray_length=(0.5, 1.5)):
    """Build the toy problem (deterministic for a given ``seed``).

    Args:
        seed: seed of ``np.random.default_rng``.
        length: length of a prediction that agrees with its cluster.
        spread: standard deviation of the 2-D Gaussian jitter around a cluster's centre.
        dual_ratio: the ``eyes`` capsule's dog prediction has length ``dual_ratio * length``
            (its cat prediction has ``length``): 1.0 makes it belong equally to both.
        stray_length: (low, high) range of the lengths of predictions that agree with nothing.
    """
    if length <= 0 or spread < 0 or dual_ratio <= 0:
        raise ValueError("length and dual_ratio must be positive and spread non-negative, got "
                         f"length={length}, spread={spread}, dual_ratio={dual_ratio}")
    low, high = stray_length
    if not 0 <= low <= high:
        raise ValueError(f"stray_length must satisfy 0 <= low <= high, got {stray_length}")
    rng = np.random.default_rng(seed)
    angles = np.deg2rad(CLUSTER_ANGLES)
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)

    lower_names, member_rows = [], []
    for j, upper in enumerate(UPPER_NAMES):
        for part in PARTS[upper]:
            lower_names.append(part)
            member_rows.append([k == j for k in range(len(UPPER_NAMES))])
    dual_name, dual_uppers = DUAL_PART
    lower_names.append(dual_name)
    member_rows.append([upper in dual_uppers for upper in UPPER_NAMES])
    members = np.array(member_rows)
    n_in, n_out = members.shape

    u_hat = np.zeros((n_in, n_out, 2))
    for i in range(n_in):
        for j in range(n_out):
            if members[i, j]:
                u_hat[i, j] = length * directions[j] + spread * rng.standard_normal(2)
            else:
                angle = rng.uniform(0.0, 2.0 * np.pi)
                u_hat[i, j] = rng.uniform(low, high) * np.array([np.cos(angle), np.sin(angle)])
    dual = n_in - 1
    first, second = (UPPER_NAMES.index(name) for name in dual_uppers)
    u_hat[dual, first] = length * directions[first]                  # a clear cat hint
    u_hat[dual, second] = dual_ratio * length * directions[second]   # a slightly weaker dog hint
    return ToyRouting(u_hat=u_hat, upper_names=UPPER_NAMES, lower_names=tuple(lower_names),
                      members=members, dual=dual, directions=directions)
