"""Keras 3 capsule layers, written with ``keras.ops`` only so they run on any backend.

``Capsule`` maps input capsules ``u_i`` to predictions ``û_{j|i} = W_ji u_i`` (fully connected, eq. 4)
or ``û_{j|i} = W_j u_i`` (shared, eq. 5), then routes them (unrolled, so it trains by backprop): the
article's dynamic routing, or another clustering rule of :data:`capsule_lesson.ROUTINGS`.
"""

import inspect
import math

import keras
from keras import ops

from .routing_settings import (EM_VARIANCE_PRIOR, check_aggregate, check_leaky, check_routing, check_routings,
                               check_settings_fit_the_rule, check_temperature, check_update)
from .squash import EPSILON, check_inner_squash, check_squash_variant, squash as squash_fn

PACKAGE = "capsule_lesson"
#: ``aggregate="mean"`` divides by no less than one input capsule's worth of coupling: an output that holds
#: less gets the plain sum, and the gradient (û - s_j) / mass stays bounded as the mass goes to 0.
MASS_FLOOR = 1.0


def softmax_over_outputs(b, leaky=False):
    """c_i = softmax_j(b_ij) of logits ``(batch, n_in, J)``. ``leaky``: with one more, orphan output whose
    logit is always 0 and whose share is dropped (the reference: :func:`capsule_lesson.routing.couplings`)."""
    if leaky:
        b = ops.concatenate([b, ops.zeros_like(b[..., :1])], axis=-1)
        return ops.softmax(b, axis=-1)[..., :-1]
    return ops.softmax(b, axis=-1) if b.shape[-1] != 1 else ops.ones_like(b)   # one output: ops.softmax warns


@keras.saving.register_keras_serializable(package=PACKAGE)
class Capsule(keras.layers.Layer):
    """Capsule layer with dynamic routing (or another routing rule).

    Input ``(batch, n_in, input_dim)``, output ``(batch, num_capsule, dim_capsule)``.

    Its one trainable weight, ``kernel``, has shape ``(num_capsule, dim_capsule, input_dim)`` when
    ``share_weights`` (W_j: any number of input capsules), and ``(n_in, num_capsule, dim_capsule,
    input_dim)`` when fully connected (W_ji: the input capsule count is fixed at build time).

    Args:
        num_capsule, dim_capsule: number and length of the output capsules.
        routings: routing iterations, >= 1.
        share_weights: shared W_j (True) or fully connected W_ji (False).
        squash: a name from ``capsule_lesson.SQUASH_VARIANTS``; ``squash_k`` its constant.
        update: ``"replace"`` (b = <û, v>, the article) or ``"accumulate"`` (b += <û, v>, the paper).
        inner_squash: what makes v_j from s_j in the iterations before the last (they only feed the
            logits): None = ``squash`` (the article), ``"unit"`` = length 1 (the author's later code),
            ``"none"`` = s_j unchanged. The output is always ``squash(s_j)``.
        kernel_initializer: defaults to Glorot-uniform with fan-in ``input_dim`` and fan-out
            ``num_capsule * dim_capsule``, the scale of the article's conv1d kernel.
        routing: ``"dynamic"`` (the article), ``"kmeans"`` (soft k-means, distance -<û, v/||v||>),
            ``"em"`` (a Gaussian mixture fitted by EM) or ``"uniform"`` (c_ij = 1/J, one pass); the NumPy
            references are in :mod:`capsule_lesson.routing`. ``update`` and ``inner_squash`` are dynamic
            routing's; ``temperature`` is k-means's.
        aggregate: ``"sum"`` (s_j = sum_i c_ij û_{j|i}, the article) or ``"mean"`` (divided by the coupling
            mass max(sum_i c_ij, 1): the length of s_j then does not grow with the number of input capsules).
        leaky: dynamic and k-means routing only: the couplings' softmax also holds an orphan output with
            logit 0, which takes the share of input capsules that agree with no output.
    """

    def __init__(self, num_capsule, dim_capsule, routings=3, share_weights=True, squash="su",
                 update="replace", squash_k=None, inner_squash=None, kernel_initializer=None,
                 routing="dynamic", temperature=1.0, aggregate="sum", leaky=False, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_capsule", num_capsule), ("dim_capsule", dim_capsule)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.num_capsule = num_capsule
        self.dim_capsule = dim_capsule
        self.routings = check_routings(routings)
        self.share_weights = bool(share_weights)
        check_squash_variant(squash, squash_k)
        self.squash = squash
        self.squash_k = None if squash_k is None else float(squash_k)
        self.update = check_update(update)
        self.inner_squash = check_inner_squash(inner_squash)
        self.routing = check_routing(routing)
        self.temperature = check_temperature(temperature)
        self.aggregate = check_aggregate(aggregate)
        self.leaky = check_leaky(leaky, routing)
        check_settings_fit_the_rule(routing, update, inner_squash, self.temperature)
        self.kernel_initializer = (
            keras.initializers.get(kernel_initializer) if kernel_initializer is not None else None)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                "Capsule expects input of shape (batch, n_in, input_dim), "
                f"got rank {len(input_shape)}: {tuple(input_shape)}")
        n_in, input_dim = input_shape[1], input_shape[2]
        if input_dim is None:
            raise ValueError("Capsule needs the capsule length (last input axis) to be known")
        if input_dim == 0:
            raise ValueError(f"Capsule needs input capsules of length >= 1, got input shape {tuple(input_shape)}")
        initializer = self.kernel_initializer
        if initializer is None:
            limit = math.sqrt(6.0 / (input_dim + self.num_capsule * self.dim_capsule))
            initializer = keras.initializers.RandomUniform(-limit, limit)
        if self.share_weights:
            shape = (self.num_capsule, self.dim_capsule, input_dim)
            axes = {-1: input_dim}
        else:
            if n_in is None:
                raise ValueError(
                    "a fully connected Capsule (share_weights=False) needs a fixed number of input "
                    "capsules, but the input shape has n_in=None; use share_weights=True for "
                    "inputs of varying length")
            shape = (n_in, self.num_capsule, self.dim_capsule, input_dim)
            axes = {1: n_in, -1: input_dim}
        self.kernel = self.add_weight(name="kernel", shape=shape, initializer=initializer)
        self.input_spec = keras.layers.InputSpec(ndim=3, axes=axes)

    def predictions(self, u):
        """û_{j|i}: ``(batch, n_in, input_dim)`` -> ``(batch, n_in, num_capsule, dim_capsule)``."""
        if not self.share_weights:
            self._check_input_count(u)
            return ops.einsum("bik,ijdk->bijd", u, self.kernel)   # û_{j|i} = W_ji u_i
        return ops.einsum("bik,jdk->bijd", u, self.kernel)        # û_{j|i} = W_j u_i

    def _check_input_count(self, u):
        n_in = self.kernel.shape[0]
        if u.shape[1] is not None and u.shape[1] != n_in:
            raise ValueError(f"this fully connected Capsule was built for {n_in} input capsules, "
                             f"got {u.shape[1]} (input shape {tuple(u.shape)})")

    # Routing reads the predictions only through these two. With shared weights they never form û
    # (batch, n_in, J, D), the layer's largest tensor, because û_{j|i} = W_j u_i is linear in u_i:
    #   s_j = sum_i c_ij W_j u_i = W_j (sum_i c_ij u_i)   and   <W_j u_i, v_j> = <u_i, W_j^T v_j>.

    def routing_input(self, u):
        """What :meth:`weighted_sum` and :meth:`agreement` read: u itself when shared, else û."""
        return u if self.share_weights else self.predictions(u)

    def weighted_sum(self, x, c):
        """s_j = sum_i c_ij û_{j|i} (``aggregate="mean"``: divided by max(sum_i c_ij, 1)): couplings ``(batch, n_in,
        J)`` -> ``(batch, J, D)``. ``c=None``: the first iteration's even couplings (1/J; leaky: 1/(J+1)), unformed.
        """
        if self.aggregate == "mean" and c is None:   # mass n_in / (J + leaky), floored at 1: the plain mean
            return self._sum_evenly(x, ops.maximum(ops.cast(ops.shape(x)[1], x.dtype), self.num_capsule + self.leaky))
        if self.aggregate == "mean":
            return self._sum_coupled(x, c) / ops.maximum(ops.sum(c, axis=1), MASS_FLOOR)[..., None]
        if c is None:
            return self._sum_evenly(x, self.num_capsule + self.leaky)
        return self._sum_coupled(x, c)

    def _sum_evenly(self, x, count):
        """sum_i u_i / count pushed through W_j (shared), or sum_i û_{j|i} / count."""
        if self.share_weights:
            return ops.einsum("jdk,bk->bjd", self.kernel, ops.sum(x, axis=1) / count)
        return ops.sum(x, axis=1) / count

    def _sum_coupled(self, x, c):
        if self.share_weights:
            pooled = ops.einsum("bij,bik->bjk", c, x)              # sum_i c_ij u_i
            return ops.einsum("jdk,bjk->bjd", self.kernel, pooled)  # W_j (sum_i c_ij u_i)
        return ops.einsum("bij,bijd->bjd", c, x)

    def agreement(self, x, v):
        """<û_{j|i}, v_j>: upper capsules ``(batch, J, D)`` -> ``(batch, n_in, J)``."""
        if self.share_weights:
            pulled_back = ops.einsum("jdk,bjd->bjk", self.kernel, v)  # W_j^T v_j
            return ops.einsum("bik,bjk->bij", x, pulled_back)
        return ops.einsum("bijd,bjd->bij", x, v)

    def call(self, u):
        if u.shape[1] == 0:   # here, not in build: the count may be known only when called (a 0 x 0 feature map)
            raise ValueError(f"Capsule needs at least one input capsule, got input shape {tuple(u.shape)}")
        if keras.backend.standardize_dtype(u.dtype) != self.compute_dtype:
            u = ops.cast(u, self.compute_dtype)                    # integer capsules too
        x = self.routing_input(u)
        iterations = 1 if self.routing == "uniform" else self.routings
        b, c = 0.0, None                                           # b_ij = 0, so c_ij = 1/J
        for iteration in range(iterations):
            s = self.weighted_sum(x, c)                            # s_j = sum_i c_ij û_{j|i}
            if iteration == iterations - 1:
                break
            if self.routing == "dynamic":
                v = self.inner_v(s)                                # v_j = squash(s_j)
                agreement = self.agreement(x, v)                   # <û_{j|i}, v_j>
                b = agreement if self.update == "replace" else b + agreement
            elif self.routing == "kmeans":
                b = self.agreement(x, squash_fn(s, "unit")) / self.temperature   # -distance / T
            else:
                b = self.em_log_joint(self.predictions(u), c, s)
            c = softmax_over_outputs(b, self.leaky)                # c_i = softmax_j(b_ij)
        return squash_fn(s, self.squash, k=self.squash_k)          # v_j = squash(s_j)

    def inner_v(self, s):
        """The v_j that updates dynamic routing's logits before the last iteration: ``squash(s_j)``, or
        ``inner_squash`` (``"unit"``: s_j/||s_j||, the author's later code; ``"none"``: s_j)."""
        if self.inner_squash is None:
            return squash_fn(s, self.squash, k=self.squash_k)
        return squash_fn(s, self.inner_squash)

    def em_log_joint(self, u_hat, c, s):
        """EM routing's E-step logits, ``log pi_j + log N(û_{j|i}; mu_j, diag var_j)``: ``(batch, n_in, J)``.

        The M-step from couplings ``c`` (None: even) and ``s`` (what :meth:`weighted_sum` gave), as in
        :func:`capsule_lesson.routing.em_routing`;
        computed in float32 whatever the layer's compute dtype (squared deviations and their logarithms).
        """
        u_hat, s = ops.cast(u_hat, "float32"), ops.cast(s, "float32")
        c = ops.ones_like(u_hat[..., 0]) / self.num_capsule if c is None else ops.cast(c, "float32")
        mass = ops.sum(c, axis=1)                                             # N_j: (batch, J)
        if self.aggregate == "mean":                                          # back to sum_i c_ij û_{j|i}
            s = s * ops.maximum(mass, MASS_FLOOR)[..., None]
        mean = s / ops.maximum(mass, 1e-30)[..., None]                        # mu_j
        deviation = u_hat - mean[:, None]
        variance = ((ops.einsum("bij,bijd->bjd", c, ops.square(deviation)) + EM_VARIANCE_PRIOR)
                    / (mass + 1.0)[..., None])
        log_density = -0.5 * ops.sum(ops.log(2 * math.pi * variance)[:, None]
                                     + ops.square(deviation) / variance[:, None], axis=-1)
        n_in = ops.cast(ops.shape(u_hat)[1], "float32")
        b = ops.log(ops.maximum(mass / n_in, 1e-30))[:, None] + log_density
        return ops.cast(b, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_capsule, self.dim_capsule)

    @classmethod
    def from_config(cls, config):
        # A .keras file written by another version of this layer may hold settings this one lacks:
        # name them, instead of Keras's generic "could not be deserialized".
        own = {name: p for name, p in inspect.signature(cls.__init__).parameters.items()
               if name not in ("self", "kwargs")}
        base = set(inspect.signature(keras.layers.Layer.__init__).parameters) | {"name", "trainable", "dtype"}
        unknown = sorted(set(config) - set(own) - base)
        missing = sorted(name for name, p in own.items() if p.default is p.empty and name not in config)
        if unknown or missing:
            raise ValueError(
                "this Capsule config does not fit this version of capsule_lesson (a file saved by another "
                f"version?): unknown settings [{', '.join(unknown)}], missing settings [{', '.join(missing)}]; "
                f"this version takes {', '.join(own)}")
        return super().from_config(config)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_capsule=self.num_capsule,
            dim_capsule=self.dim_capsule,
            routings=self.routings,
            share_weights=self.share_weights,
            squash=self.squash,
            update=self.update,
            squash_k=self.squash_k,
            inner_squash=self.inner_squash,
            routing=self.routing,
            temperature=self.temperature,
            aggregate=self.aggregate,
            leaky=self.leaky,
            kernel_initializer=(keras.initializers.serialize(self.kernel_initializer)
                                if self.kernel_initializer is not None else None),
        )
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class CapsuleLength(keras.layers.Layer):
    """Capsule norms ``sqrt(||v||^2 + eps)``: ``(batch, n, dim)`` -> ``(batch, n)``.

    The epsilon keeps the gradient finite when a capsule is exactly zero.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def call(self, v):
        return ops.sqrt(ops.sum(ops.square(v), axis=-1) + EPSILON)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])


@keras.saving.register_keras_serializable(package=PACKAGE)
class FeatureMapToCapsules(keras.layers.Layer):
    """Reshape a feature map ``(batch, h, w, c)`` into ``h*w`` capsules of length ``c``.

    Works for any ``h, w`` (unlike ``Reshape`` with a fixed target), so the shared capsule
    layer can follow a CNN on images of any size.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def call(self, x):
        shape = ops.shape(x)
        return ops.reshape(x, (shape[0], -1, shape[-1]))

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        n = h * w if h is not None and w is not None else None
        return (b, n, c)


