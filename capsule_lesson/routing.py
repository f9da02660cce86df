"""Dynamic routing in plain NumPy: the reference the Keras layer is tested against.

Eq. 2 of the article, ``v_j = squash(sum_i c_ij u_hat_{j|i})`` with ``c_i = softmax_j(<u_hat_{j|i}, v_j>)``,
defines the upper capsules ``v_j`` through themselves. Dynamic routing solves it by iteration::

    b_ij = 0
    repeat r times:
        c_i = softmax(b_i)                     # over upper capsules j
        s_j = sum_i c_ij u_hat_{j|i}
        v_j = squash(s_j)
        b_ij = <u_hat_{j|i}, v_j>              # "replace" (article)
        # or b_ij = b_ij + <u_hat_{j|i}, v_j>  # "accumulate" (Sabour et al. 2017)
"""

from dataclasses import dataclass

import numpy as np

from .checks import numeric_array
from .squash import check_inner_squash, check_squash_variant, squash as squash_fn

#: The names of the logit update rules.
ROUTING_UPDATES = ("replace", "accumulate")


def check_update(update):
    if not isinstance(update, str) or update not in ROUTING_UPDATES:
        raise ValueError(
            f"unknown routing update {update!r}; choose one of {', '.join(ROUTING_UPDATES)}")
    return update


def check_routings(routings):
    if isinstance(routings, bool) or not isinstance(routings, (int, np.integer)) or routings < 1:
        raise ValueError(f"routings must be an integer >= 1, got {routings!r}")
    return int(routings)


def softmax(logits, axis=-1):
    """Softmax that stays finite for huge logits (it subtracts the maximum first)."""
    shifted = logits - np.max(logits, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


@dataclass
class RoutingResult:
    """What :func:`dynamic_routing` returns.

    ``v``: upper capsules, ``([batch,] n_out, dim)``.
    ``b_history`` / ``c_history``: logits and couplings used at each iteration, ``(routings, [batch,] n_in, n_out)``.
    ``v_history``: upper capsules after each iteration, ``(routings, [batch,] n_out, dim)``.
    """

    v: np.ndarray
    b_history: np.ndarray
    c_history: np.ndarray
    v_history: np.ndarray


def dynamic_routing(u_hat, routings=3, update="replace", squash="su", k=None, inner_squash=None):
    """Route predictions ``u_hat`` of shape ``(n_in, n_out, dim)`` or ``(batch, n_in, n_out, dim)``.

    ``u_hat[..., i, j, :]`` is lower capsule i's prediction û_{j|i} for upper capsule j.
    ``squash`` names a variant of :func:`capsule_lesson.squash` (``k`` its constant).
    ``inner_squash``: what turns s_j into the v_j that updates the logits in the intermediate iterations;
    ``None`` means ``squash`` (the article), ``"unit"`` normalises to length 1 (the author's later code),
    ``"none"`` uses s_j itself. The returned ``v`` always uses ``squash``.
    """
    routings = check_routings(routings)
    check_update(update)
    check_squash_variant(squash, k)
    inner_squash = check_inner_squash(inner_squash)
    u_hat = numeric_array(u_hat, "u_hat")
    if u_hat.ndim not in (3, 4):
        raise ValueError(
            "u_hat must have shape (n_in, n_out, dim) or (batch, n_in, n_out, dim), "
            f"got rank {u_hat.ndim} with shape {u_hat.shape}")
    if 0 in u_hat.shape[-3:]:
        raise ValueError(f"u_hat needs at least one input capsule, one output capsule and one dimension, "
                         f"got (n_in, n_out, dim) = {u_hat.shape[-3:]}")
    unbatched = u_hat.ndim == 3
    if unbatched:
        u_hat = u_hat[None]

    b = np.zeros(u_hat.shape[:3])                      # (batch, n_in, n_out)
    b_history, c_history, v_history = [], [], []
    for r in range(routings):
        c = softmax(b, axis=-1)                        # each lower capsule splits itself over j
        s = np.einsum("bij,bijd->bjd", c, u_hat)       # s_j = sum_i c_ij û_{j|i}
        last = r == routings - 1
        if last or inner_squash is None:
            v = squash_fn(s, squash, k=k)              # v_j = squash(s_j)
        else:
            v = squash_fn(s, inner_squash, k=None)
        agreement = np.einsum("bijd,bjd->bij", u_hat, v)  # <û_{j|i}, v_j>
        b_history.append(b)
        c_history.append(c)
        v_history.append(v)
        b = agreement if update == "replace" else b + agreement

    def stack(history):
        history = np.stack(history)
        return history[:, 0] if unbatched else history

    return RoutingResult(
        v=v[0] if unbatched else v,
        b_history=stack(b_history),
        c_history=stack(c_history),
        v_history=stack(v_history),
    )


def coupling_entropy(c, axis=-1):
    """Mean entropy (nats) of coupling distributions ``c`` over ``axis``: 0 means one-hot."""
    c = numeric_array(c, "c")
    if c.size and c.min() < 0:
        raise ValueError(f"couplings c must be probabilities (>= 0), got a minimum of {c.min()}")
    return float(np.mean(-np.sum(c * np.log(np.clip(c, 1e-300, None)), axis=axis)))
