"""The article's margin loss, as a registered Keras loss."""

import keras
from keras import ops

from .layers import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class MarginLoss(keras.losses.Loss):
    """Margin loss: ``sum_c T_c max(0, m+ - s_c)^2 + lam (1 - T_c) max(0, s_c - m-)^2``.

    ``y_pred``: class scores in [0, 1] (capsule norms or sigmoid outputs), ``(batch, classes)``.
    ``y_true``: one-hot (or multi-hot) ``(batch, classes)``, or integer labels ``(batch,)``.
    """

    def __init__(self, m_plus=0.9, m_minus=0.1, lam=0.25, name="margin_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0.0 <= m_minus < m_plus <= 1.0:
            raise ValueError(
                f"margin loss needs 0 <= m_minus < m_plus <= 1, got m_plus={m_plus}, m_minus={m_minus}")
        if lam < 0:
            raise ValueError(f"margin loss weight lam must be >= 0, got {lam}")
        self.m_plus, self.m_minus, self.lam = float(m_plus), float(m_minus), float(lam)

    def call(self, y_true, y_pred):
        if len(y_true.shape) == len(y_pred.shape) - 1:      # integer labels
            y_true = ops.one_hot(ops.cast(y_true, "int32"), y_pred.shape[-1], dtype=y_pred.dtype)
        if y_true.shape[-1] is not None and y_pred.shape[-1] is not None and y_true.shape[-1] != y_pred.shape[-1]:
            raise ValueError(f"margin loss: y_true has {y_true.shape[-1]} classes but y_pred has "
                             f"{y_pred.shape[-1]} (shapes {tuple(y_true.shape)} and {tuple(y_pred.shape)})")
        y_true = ops.cast(y_true, y_pred.dtype)
        present = y_true * ops.square(ops.relu(self.m_plus - y_pred))
        absent = self.lam * (1.0 - y_true) * ops.square(ops.relu(y_pred - self.m_minus))
        return ops.sum(present + absent, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(m_plus=self.m_plus, m_minus=self.m_minus, lam=self.lam)
        return config


def margin_loss(m_plus=0.9, m_minus=0.1, lam=0.25):
    """The article's margin loss (its code: m+ = 0.9, m- = 0.1, lam = 0.25; the paper's lam is 0.5)."""
    return MarginLoss(m_plus=m_plus, m_minus=m_minus, lam=lam)
