"""Routing in plain NumPy: the references the Keras layer is tested against.

Eq. 2 of the article, ``v_j = squash(sum_i c_ij u_hat_{j|i})`` with ``c_i = softmax_j(<u_hat_{j|i}, v_j>)``,
defines the upper capsules ``v_j`` through themselves. Dynamic routing solves it by iteration::

    b_ij = 0
    repeat r times:
        c_i = softmax(b_i)                     # over upper capsules j
        s_j = sum_i c_ij u_hat_{j|i}
        v_j = squash(s_j)
        b_ij = <u_hat_{j|i}, v_j>              # "replace" (article)
        # or b_ij = b_ij + <u_hat_{j|i}, v_j>  # "accumulate" (Sabour et al. 2017)

Routing is clustering: the output capsules are cluster centres of the predictions. Other clustering rules
fit the same loop, and differ only in the line that turns the centres into new couplings
(see :data:`ROUTINGS` and :func:`route`): k-means with the distance -<u, v/||v||>, a Gaussian mixture
fitted by EM, and no routing at all (uniform couplings).
"""

from dataclasses import dataclass

import numpy as np

from .checks import numeric_array
from .routing_settings import (EM_VARIANCE_PRIOR, check_aggregate, check_leaky, check_routing, check_routings,
                               check_temperature, check_update)
from .squash import check_inner_squash, check_squash_variant, squash as squash_fn

def softmax(logits, axis=-1):
    """Softmax that stays finite for huge logits (it subtracts the maximum first)."""
    shifted = logits - np.max(logits, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def couplings(b, leaky=False):
    """c_i = softmax_j(b_ij) over the outputs, ``(batch, n_in, n_out)``. ``leaky``: the softmax also holds an
    orphan output whose logit is always 0; its share is dropped, so a capsule that agrees with no output
    (every b_ij well below 0) gives little to any of them."""
    if not leaky:
        return softmax(b, axis=-1)
    return softmax(np.concatenate([b, np.zeros(b.shape[:-1] + (1,))], axis=-1), axis=-1)[..., :-1]


def weighted_sum(c, u_hat, aggregate="sum"):
    """s_j = sum_i c_ij û_{j|i} (``"sum"``), or that divided by the coupling mass sum_i c_ij (``"mean"``), but
    by no less than 1 (one input capsule's worth: an output holding less keeps the sum, and the gradient stays
    bounded): couplings ``(batch, n_in, n_out)``, predictions ``(batch, n_in, n_out, dim)`` -> ``(batch, n_out, dim)``."""
    s = np.einsum("bij,bijd->bjd", c, u_hat)
    if aggregate == "mean":
        s = s / np.maximum(c.sum(axis=1), 1.0)[..., None]
    return s


@dataclass
class RoutingResult:
    """What :func:`dynamic_routing` returns.

    ``v``: upper capsules, ``([batch,] n_out, dim)``.
    ``b_history`` / ``c_history``: logits and couplings used at each iteration, ``(routings, [batch,] n_in, n_out)``.
    ``v_history``: upper capsules after each iteration, ``(routings, [batch,] n_out, dim)``.
    ``log_likelihood``: EM only, the objective after each M-step, ``(routings - 1, [batch])``; else None.
    """

    v: np.ndarray
    b_history: np.ndarray
    c_history: np.ndarray
    v_history: np.ndarray
    log_likelihood: np.ndarray | None = None


def _batched_predictions(u_hat):
    """``u_hat`` checked and with a batch axis: ``((batch, n_in, n_out, dim), whether it had none)``."""
    u_hat = numeric_array(u_hat, "u_hat")
    if u_hat.ndim not in (3, 4):
        raise ValueError(
            "u_hat must have shape (n_in, n_out, dim) or (batch, n_in, n_out, dim), "
            f"got rank {u_hat.ndim} with shape {u_hat.shape}")
    if 0 in u_hat.shape[-3:]:
        raise ValueError(f"u_hat needs at least one input capsule, one output capsule and one dimension, "
                         f"got (n_in, n_out, dim) = {u_hat.shape[-3:]}")
    return (u_hat[None], True) if u_hat.ndim == 3 else (u_hat, False)


def _result(unbatched, v, b_history, c_history, v_history, log_likelihood=None):
    def stack(history):
        history = np.stack(history)
        return history[:, 0] if unbatched else history

    return RoutingResult(v=v[0] if unbatched else v, b_history=stack(b_history), c_history=stack(c_history),
                         v_history=stack(v_history),
                         log_likelihood=None if log_likelihood is None else stack(log_likelihood))


def dynamic_routing(u_hat, routings=3, update="replace", squash="su", k=None, inner_squash=None, aggregate="sum",
                    leaky=False):
    """Route predictions ``u_hat`` of shape ``(n_in, n_out, dim)`` or ``(batch, n_in, n_out, dim)``.

    ``u_hat[..., i, j, :]`` is lower capsule i's prediction û_{j|i} for upper capsule j.
    ``squash`` names a variant of :func:`capsule_lesson.squash` (``k`` its constant).
    ``inner_squash``: what turns s_j into the v_j that updates the logits in the intermediate iterations;
    ``None`` means ``squash`` (the article), ``"unit"`` normalises to length 1 (the author's later code),
    ``"none"`` uses s_j itself. The returned ``v`` always uses ``squash``.
    ``aggregate`` and ``leaky``: see :func:`weighted_sum` and :func:`couplings` (defaults: the article's).
    """
    routings = check_routings(routings)
    check_update(update)
    check_aggregate(aggregate)
    check_leaky(leaky)
    check_squash_variant(squash, k)
    inner_squash = check_inner_squash(inner_squash)
    u_hat, unbatched = _batched_predictions(u_hat)

    b = np.zeros(u_hat.shape[:3])                      # (batch, n_in, n_out)
    b_history, c_history, v_history = [], [], []
    for r in range(routings):
        c = couplings(b, leaky)                        # each lower capsule splits itself over j
        s = weighted_sum(c, u_hat, aggregate)          # s_j = sum_i c_ij û_{j|i}
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

    return _result(unbatched, v, b_history, c_history, v_history)


def kmeans_routing(u_hat, routings=3, temperature=1.0, squash="su", k=None, aggregate="sum", leaky=False):
    """Soft k-means over the predictions, with the distance ``d(û, v) = -<û, v/||v||>`` (kexue.fm/archives/5112).

    ``u_hat``: ``(n_in, n_out, dim)`` or ``(batch, n_in, n_out, dim)``. The centres are s_j = sum_i c_ij û_{j|i};
    the assignment step is ``c_i = softmax_j(<û_{j|i}, s_j/||s_j||> / temperature)``: a low temperature makes
    the assignments hard (k-means proper), a high one spreads them. Only the output is squashed. At
    temperature 1 this is the article's author's later code (``dynamic_routing(..., inner_squash="unit")``).
    ``aggregate``, ``leaky``: as for :func:`dynamic_routing`.
    """
    routings = check_routings(routings)
    temperature = check_temperature(temperature)
    check_aggregate(aggregate)
    check_leaky(leaky)
    check_squash_variant(squash, k)
    u_hat, unbatched = _batched_predictions(u_hat)
    b = np.zeros(u_hat.shape[:3])
    b_history, c_history, v_history = [], [], []
    for r in range(routings):
        c = couplings(b, leaky)
        s = weighted_sum(c, u_hat, aggregate)                  # the centres
        direction = squash_fn(s, "unit")                       # s_j / ||s_j||
        b_history.append(b)
        c_history.append(c)
        v_history.append(squash_fn(s, squash, k=k))
        b = np.einsum("bijd,bjd->bij", u_hat, direction) / temperature   # -distance / temperature
    return _result(unbatched, v_history[-1], b_history, c_history, v_history)


def em_step(u_hat, c, variance_prior=EM_VARIANCE_PRIOR):
    """One M-step of :func:`em_routing` from couplings ``c`` ``(batch, n_in, n_out)``, then the E-step's logits.

    Returns ``(b, objective)``: ``b = log pi_j + log N(û_{j|i}; mu_j, var_j)`` ``(batch, n_in, n_out)`` (softmax
    over j gives the new couplings) and, per sample, the mixture's log-likelihood plus the prior's log-density
    at the fitted parameters ``(batch,)`` -- the objective EM never decreases.
    """
    n_in = u_hat.shape[1]
    mass = c.sum(axis=1)                                               # N_j: (batch, n_out)
    mean = np.einsum("bij,bijd->bjd", c, u_hat) / np.maximum(mass, 1e-30)[..., None]   # mu_j = s_j / N_j
    deviation = u_hat - mean[:, None]
    variance = (np.einsum("bij,bijd->bjd", c, deviation ** 2) + variance_prior) / (mass + 1.0)[..., None]
    log_density = -0.5 * np.sum(np.log(2 * np.pi * variance)[:, None] + deviation ** 2 / variance[:, None],
                                axis=-1)                               # log N(û_{j|i}; mu_j, var_j)
    b = np.log(np.maximum(mass / n_in, 1e-30))[:, None] + log_density  # log pi_j + log N
    top = b.max(axis=-1, keepdims=True)
    log_likelihood = np.sum(top[..., 0] + np.log(np.sum(np.exp(b - top), axis=-1)), axis=1)
    log_prior = np.sum(-0.5 * np.log(variance) - 0.5 * variance_prior / variance, axis=(1, 2))
    return b, log_likelihood + log_prior


def em_routing(u_hat, routings=3, squash="su", k=None, variance_prior=EM_VARIANCE_PRIOR, aggregate="sum",
               initial_couplings=None):
    """A Gaussian mixture fitted by EM to the predictions: cluster j sees lower capsule i at û_{j|i}.

    ``u_hat``: ``(n_in, n_out, dim)`` or ``(batch, n_in, n_out, dim)``. Starting from uniform couplings,
    each iteration: the output ``s_j = sum_i c_ij û_{j|i}`` (as in dynamic routing), then

    * M-step: mass ``N_j = sum_i c_ij``, mean ``mu_j = s_j / N_j``, per-dimension variance
      ``var_j = (sum_i c_ij (û_{j|i} - mu_j)^2 + variance_prior) / (N_j + 1)``, mixing weight ``pi_j = N_j / n_in``;
    * E-step: ``c_ij = softmax_j(log pi_j + log N(û_{j|i}; mu_j, diag var_j))``, the responsibilities.

    A simplification of Hinton, Sabour & Frosst (2018): vectors instead of pose matrices, no activations
    a_j, costs or inverse-temperature schedule; the output is ``squash(s_j)``, so its length grows with the
    mass of predictions the cluster holds, like the other routings here. The variance is the MAP estimate
    under a weak inverse-gamma prior (one pseudo-observation of ``variance_prior``), which keeps a cluster
    of one prediction finite; EM then never decreases the objective in ``log_likelihood``: the mixture's
    log-likelihood plus the prior's log-density, after each M-step.
    ``aggregate="mean"`` outputs ``squash(mu_j)`` instead. ``initial_couplings`` ``([batch,] n_in, n_out)``,
    rows summing to 1: where EM starts (default: uniform); EM climbs the nearest hill of its objective, so the
    start decides which clustering it finds.
    """
    routings = check_routings(routings)
    check_squash_variant(squash, k)
    check_aggregate(aggregate)
    if not np.isfinite(variance_prior) or variance_prior <= 0:
        raise ValueError(f"variance_prior must be a finite number > 0, got {variance_prior!r}")
    u_hat, unbatched = _batched_predictions(u_hat)
    b = np.zeros(u_hat.shape[:3])
    start = None if initial_couplings is None else _initial_couplings(initial_couplings, b.shape, unbatched)
    b_history, c_history, v_history, objective = [], [], [], []
    for r in range(routings):
        c = softmax(b, axis=-1) if r or start is None else start
        s = weighted_sum(c, u_hat, aggregate)
        b_history.append(b)
        c_history.append(c)
        v_history.append(squash_fn(s, squash, k=k))
        if r == routings - 1:
            break
        b, value = em_step(u_hat, c, variance_prior)
        objective.append(value)
    return _result(unbatched, v_history[-1], b_history, c_history, v_history, objective if objective else None)


def _initial_couplings(c, shape, unbatched):
    c = numeric_array(c, "initial_couplings")
    c = c[None] if unbatched and c.ndim == 2 else c
    if c.shape != shape:
        raise ValueError(f"initial_couplings must have shape {shape[1:] if unbatched else shape} (n_in, n_out "
                         f"of u_hat), got {c.shape[1:] if unbatched else c.shape}")
    if c.min() < 0 or not np.allclose(c.sum(axis=-1), 1.0, atol=1e-6):
        raise ValueError("initial_couplings must be >= 0 and sum to 1 over the outputs (the last axis)")
    return c


def uniform_routing(u_hat, squash="su", k=None, aggregate="sum"):
    """No routing, the baseline: every lower capsule splits itself evenly, ``c_ij = 1/n_out``, and one pass
    gives ``v_j = squash(sum_i û_{j|i} / n_out)`` (what dynamic routing computes with ``routings=1``;
    ``aggregate="mean"``: ``squash(mean_i û_{j|i})``). ``u_hat``: ``(n_in, n_out, dim)`` or ``(batch, n_in, n_out, dim)``."""
    check_squash_variant(squash, k)
    check_aggregate(aggregate)
    u_hat, unbatched = _batched_predictions(u_hat)
    b = np.zeros(u_hat.shape[:3])
    c = softmax(b, axis=-1)
    v = squash_fn(weighted_sum(c, u_hat, aggregate), squash, k=k)
    return _result(unbatched, v, [b], [c], [v])


def route(u_hat, routing="dynamic", routings=3, temperature=1.0, squash="su", k=None, aggregate="sum",
          **options):
    """One entry for all four: ``routing`` in :data:`ROUTINGS`; ``temperature`` is k-means's, ``aggregate``
    every rule's; ``options`` go to :func:`dynamic_routing` (``update``, ``inner_squash``, ``leaky``),
    :func:`kmeans_routing` (``leaky``) or :func:`em_routing` (``variance_prior``, ``initial_couplings``)."""
    routing = check_routing(routing)
    if routing == "dynamic":
        return dynamic_routing(u_hat, routings, squash=squash, k=k, aggregate=aggregate, **options)
    if options:
        allowed = {"em": {"variance_prior", "initial_couplings"}, "kmeans": {"leaky"}}.get(routing, set())
        if set(options) - allowed:
            raise ValueError(f"{routing} routing takes no option {', '.join(sorted(set(options) - allowed))}")
    if routing == "kmeans":
        return kmeans_routing(u_hat, routings, temperature, squash=squash, k=k, aggregate=aggregate, **options)
    if routing == "em":
        return em_routing(u_hat, routings, squash=squash, k=k, aggregate=aggregate, **options)
    return uniform_routing(u_hat, squash=squash, k=k, aggregate=aggregate)


def coupling_entropy(c, axis=-1):
    """Mean entropy (nats) of coupling distributions ``c`` over ``axis``: 0 means one-hot."""
    c = numeric_array(c, "c")
    if c.size and c.min() < 0:
        raise ValueError(f"couplings c must be probabilities (>= 0), got a minimum of {c.min()}")
    return float(np.mean(-np.sum(c * np.log(np.clip(c, 1e-300, None)), axis=axis)))
