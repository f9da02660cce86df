"""Slower capsule layers, kept only to be measured against ``capsule_lesson.Capsule``.

All three inherit ``Capsule``'s constructor, ``build`` (the same ``kernel``) and ``predictions``; they
differ only in how ``call`` runs the routing, so for equal weights they give the same output.

* :class:`PerSampleCapsule`: one sample at a time (``keras.ops.map``, a loop over the batch), the way
  early capsule code routed.
* :class:`VectorizedMapCapsule`: the same per-sample function, batched by ``keras.ops.vectorized_map``.
* :class:`EinsumCapsule`: the layer as it was before issue 6, batched, but it forms every prediction
  û_{j|i} and routes with einsums over that ``(batch, n_in, J, D)`` tensor.
"""

from keras import ops

from capsule_lesson.layers import Capsule
from capsule_lesson.squash import squash as squash_fn


def route_predictions(layer, u_hat, c_axis_sum):
    """Dynamic routing on predictions ``u_hat``; ``c_axis_sum`` picks the per-sample or batched einsums."""
    weighted, agree = c_axis_sum
    b = ops.zeros_like(u_hat[..., 0])
    for r in range(layer.routings):
        c = ops.softmax(b, axis=-1)
        s = ops.einsum(weighted, c, u_hat)                         # s_j = sum_i c_ij û_{j|i}
        if r == layer.routings - 1:
            return squash_fn(s, layer.squash, k=layer.squash_k)
        if layer.inner_squash is None:
            v = squash_fn(s, layer.squash, k=layer.squash_k)
        else:
            v = squash_fn(s, layer.inner_squash)
        agreement = ops.einsum(agree, u_hat, v)                    # <û_{j|i}, v_j>
        b = agreement if layer.update == "replace" else b + agreement


class _OneSample(Capsule):
    def route_one(self, u):
        """Route one sample: ``u`` ``(n_in, input_dim)`` -> ``(num_capsule, dim_capsule)``."""
        if self.share_weights:
            u_hat = ops.einsum("ik,jdk->ijd", u, self.kernel)
        else:
            u_hat = ops.einsum("ik,ijdk->ijd", u, self.kernel)
        return route_predictions(self, u_hat, ("ij,ijd->jd", "ijd,jd->ij"))


class PerSampleCapsule(_OneSample):
    """Routes the batch one sample after another (``keras.ops.map``)."""

    def call(self, u):
        return ops.map(self.route_one, u)


class VectorizedMapCapsule(_OneSample):
    """Routes one sample, batched automatically by ``keras.ops.vectorized_map``."""

    def call(self, u):
        return ops.vectorized_map(self.route_one, u)


class EinsumCapsule(Capsule):
    """The layer before issue 6: all predictions û (batch, n_in, J, D), then einsum routing."""

    def call(self, u):
        return route_predictions(self, self.predictions(u), ("bij,bijd->bjd", "bijd,bjd->bij"))


LAYERS = {
    "capsule_lesson.Capsule": Capsule,
    "einsum over û (before #6)": EinsumCapsule,
    "vectorized_map per sample": VectorizedMapCapsule,
    "loop per sample (ops.map)": PerSampleCapsule,
}
