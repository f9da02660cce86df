"""Squash functions: squeeze a vector's length into [0, 1) and keep its direction.

The article (浓缩果汁) calls squash "concentrated juice": the norm of the output reads as the
probability that the feature a capsule stands for is present.

Every variant has the form ``squash(x) = g(||x||) * x / ||x||``; below we write it as
``x * scale(||x||^2)`` so that a zero vector maps to zero with finite gradients.

The same formula serves NumPy arrays and Keras tensors: :func:`squash` picks ``numpy`` or
``keras.ops`` as the namespace ``xp`` and runs one code path with it.
"""

import numpy as np

from .checks import finite_result, numeric_array

#: The names :func:`squash` accepts.
SQUASH_VARIANTS = ("hinton", "su", "tanh", "exp", "rational", "none")

#: What may stand in for squash inside the routing loop (before the last iteration): a variant, or
#: ``"unit"``, normalisation to length 1.
INNER_SQUASH_OPTIONS = SQUASH_VARIANTS + ("unit",)

#: Variants with a constant ``k`` in ``||x||^2 / (k + ||x||^2)``, and its default.
SQUASH_CONSTANTS = {"hinton": 1.0, "su": 0.5}

#: Added to ``||x||^2`` before the square root, as Keras's ``epsilon()`` in the article's code:
#: it keeps ``x / ||x||`` and its gradient finite at ``x = 0``.
EPSILON = 1e-7


def check_squash_variant(variant, k=None):
    """Validate a squash name (and constant); return the constant to use (None if it has none)."""
    if not isinstance(variant, str) or variant not in SQUASH_VARIANTS:
        raise ValueError(
            f"unknown squash variant {variant!r}; choose one of {', '.join(SQUASH_VARIANTS)}")
    if variant not in SQUASH_CONSTANTS:
        if k is not None:
            raise ValueError(
                f"squash variant {variant!r} has no constant k; only "
                f"{' and '.join(SQUASH_CONSTANTS)} take one (got k={k!r})")
        return None
    k = SQUASH_CONSTANTS[variant] if k is None else float(k)
    if not k > 0:
        raise ValueError(f"squash constant k must be positive, got k={k!r}")
    return k


def check_inner_squash(inner_squash):
    """Validate an ``inner_squash`` option (None: the same squash as the output)."""
    if inner_squash is not None and inner_squash not in INNER_SQUASH_OPTIONS:
        raise ValueError(
            f"unknown inner_squash {inner_squash!r}; choose None or one of {', '.join(INNER_SQUASH_OPTIONS)}")
    return inner_squash


def squash_scale(squared_norm, variant, k, xp):
    """The factor that multiplies ``x``: ``g(||x||) / ||x||`` as a function of ``||x||^2``.

    ``xp`` is ``numpy`` or ``keras.ops`` (they share these function names).
    """
    norm = xp.sqrt(squared_norm + EPSILON)  # ||x||, kept away from 0
    if variant in SQUASH_CONSTANTS:          # ||x||^2 / (k + ||x||^2) * x/||x||
        return squared_norm / (k + squared_norm) / norm
    if variant == "tanh":                     # tanh(||x||) * x/||x||
        return xp.tanh(norm) / norm
    if variant == "exp":                      # (1 - e^-||x||) * x/||x||
        return -xp.expm1(-norm) / norm
    if variant == "rational":                 # ||x|| / (1 + ||x||) * x/||x||
        return 1.0 / (1.0 + norm)
    if variant == "unit":                     # x/||x||: length 1 (only inside the routing loop)
        return 1.0 / norm
    raise ValueError(f"unknown squash variant {variant!r}")


def _is_numpy_like(x):
    return isinstance(x, (np.ndarray, np.generic, float, int, list, tuple, str, bytes))


def squash(x, variant="hinton", axis=-1, k=None):
    """Squash vectors along ``axis`` so their norms lie in [0, 1).

    Args:
        x: NumPy array or Keras/backend tensor, vectors along ``axis``.
        variant: one of :data:`SQUASH_VARIANTS`.
            ``"hinton"``: ||x||^2/(1+||x||^2) x/||x|| (eq. 3); ``"su"``: the constant 0.5 instead of 1;
            ``"tanh"``, ``"exp"`` (1 - e^-||x||), ``"rational"`` (||x||/(1+||x||)); ``"none"``: identity.
        axis: the axis that holds each vector's components.
        k: the constant of ``"hinton"``/``"su"`` (defaults 1.0 / 0.5).

    Returns:
        Same type and shape as ``x`` (NumPy in, NumPy out).
    """
    k = None if variant == "unit" else check_squash_variant(variant, k)
    if _is_numpy_like(x):
        xp = np
        floating = isinstance(x, (np.ndarray, np.generic)) and np.issubdtype(x.dtype, np.floating)
        x = numeric_array(x, "squash input", dtype=x.dtype if floating else np.float64)
    else:
        from keras import backend, ops as xp   # here: NumPy callers of squash never import Keras
    if variant == "none":
        return x
    if xp is not np and backend.standardize_dtype(x.dtype) in ("float16", "bfloat16"):
        # ||x||^2 overflows float16 once ||x|| > 256, and EPSILON is below bfloat16's resolution near 1:
        # squash in float32, hand back the input's precision (the result has length < 1).
        return xp.cast(squash(xp.cast(x, "float32"), variant, axis, k), x.dtype)
    with np.errstate(over="ignore", invalid="ignore"):     # NumPy: overflow is reported just below
        squashed = x * squash_scale(xp.sum(xp.square(x), axis=axis, keepdims=True), variant, k, xp)
    if xp is np:
        finite_result(squashed, "squash", f"the squared norm of vectors this long overflows {x.dtype}: rescale the input")
    return squashed


def effective_k(variant, k):
    """The constant that ``variant`` really uses: ``k`` for "hinton"/"su", ``None`` (ignored) otherwise."""
    return None if variant not in SQUASH_CONSTANTS or k is None else float(k)


def output_norm(variant, input_norm, k=None, direction=(1.0, 0.0)):
    """``||squash(r * direction)||`` for every ``r`` in ``input_norm``.

    ``k`` is ignored for variants without a constant (see :func:`effective_k`).
    """
    r = np.asarray(input_norm, dtype=np.float64)
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    x = r[..., None] * d                      # vectors of length r along d
    return np.linalg.norm(squash(x, variant, k=effective_k(variant, k)), axis=-1)


def output_norm_slope(variant, input_norm, k=None, h=1e-5):
    """d||squash(x)|| / d||x||, by central differences (one-sided where ``r < h``)."""
    r = np.asarray(input_norm, dtype=np.float64)
    lo = np.maximum(r - h, 0.0)
    hi = r + h
    return (output_norm(variant, hi, k) - output_norm(variant, lo, k)) / (hi - lo)


def fixed_point_roots(k):
    """Positive input norms where ``||x||^2 / (k + ||x||^2) = ||x||``, i.e. roots of r^2 - r + k = 0.

    Real only when ``k <= 1/4``; returns an empty array otherwise.
    """
    disc = 1.0 - 4.0 * float(k)
    if disc < 0:
        return np.array([])
    return np.unique(np.array([(1 - np.sqrt(disc)) / 2, (1 + np.sqrt(disc)) / 2]))
