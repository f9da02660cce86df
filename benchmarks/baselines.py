"""Slower capsule layers, kept only to be measured against ``capsule_lesson.Capsule``.

All three inherit ``Capsule`` whole -- its constructor, ``build`` (the same ``kernel``) and its routing loop --
and change only where the loop's two sums are computed, so for equal weights they give the same output.

* :class:`PerSampleCapsule`: one sample at a time (``keras.ops.map``, a loop over the batch), the way
  early capsule code routed.
* :class:`VectorizedMapCapsule`: the same per-sample function, batched by ``keras.ops.vectorized_map``.
* :class:`EinsumCapsule`: batched, but it forms every prediction û_{j|i}, a ``(batch, n_in, J, D)`` tensor,
  and sums over it, even with shared weights (the shared layer never forms û).
"""

from keras import ops

from capsule_lesson.layers import Capsule


class _OneSample(Capsule):
    def route_one(self, u):
        """Route one sample: ``u`` ``(n_in, input_dim)`` -> ``(num_capsule, dim_capsule)``."""
        return Capsule.call(self, u[None])[0]


class PerSampleCapsule(_OneSample):
    """Routes the batch one sample after another (``keras.ops.map``)."""

    def call(self, u):
        return ops.map(self.route_one, u)


class VectorizedMapCapsule(_OneSample):
    """Routes one sample, batched automatically by ``keras.ops.vectorized_map``."""

    def call(self, u):
        return ops.vectorized_map(self.route_one, u)


class EinsumCapsule(Capsule):
    """Forms all predictions û (batch, n_in, J, D), then routes with einsums over that tensor."""

    def routing_input(self, u):
        return self.predictions(u)

    def weighted_sum(self, x, c):
        return ops.sum(x, axis=1) / self.num_capsule if c is None else ops.einsum("bij,bijd->bjd", c, x)

    def agreement(self, x, v):
        return ops.einsum("bijd,bjd->bij", x, v)


LAYERS = {
    "capsule_lesson.Capsule": Capsule,
    "einsum over û": EinsumCapsule,
    "vectorized_map per sample": VectorizedMapCapsule,
    "loop per sample (ops.map)": PerSampleCapsule,
}
