"""Input checks shared by the NumPy functions: a clear ``ValueError`` naming the argument, never a NaN later.

Each turns what the caller passed into an array and says exactly what is wrong with it when it cannot be used.
``docs/errors.md`` lists the bad inputs tried and what each gives.
"""

import numpy as np


def numeric_array(value, name, dtype=np.float64):
    """``value`` as a finite array of ``dtype`` (None: keep its own); a ValueError naming ``name`` for text,
    objects, NaN or infinity."""
    try:
        array = np.asarray(value)
    except ValueError as error:       # ragged nested lists
        raise ValueError(f"{name} must be a number or an array of numbers: {error}") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a number or an array of numbers, got {type(value).__name__} "
                         f"with dtype {array.dtype}" + (f": {value!r}" if isinstance(value, str) else ""))
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name} contains NaN or infinity ({bad} of {array.size} values)")
    return array


def integer_labels(value, name, classes=None):
    """``value`` as an integer array; a ValueError for fractions, NaN, text, or labels outside ``0..classes-1``."""
    array = numeric_array(value, name, dtype=np.float64)
    if not np.all(array == np.round(array)):
        raise ValueError(f"{name} must hold integer class labels, got non-integer values such as "
                         f"{array[array != np.round(array)].flat[0]}")
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or (classes is not None and array.max() >= classes)):
        allowed = f"lie in 0..{classes - 1}" if classes is not None else "be >= 0"
        raise ValueError(f"{name} must {allowed}, got {array.min()}..{array.max()}")
    return array


def finite_result(array, what, hint):
    """Raise when a computation on finite input overflowed (float64 squares beyond ~1e154)."""
    if not np.all(np.isfinite(array)):
        raise FloatingPointError(f"{what} overflowed to infinity or NaN; {hint}")
    return array


def whole_number(value, name, minimum, description):
    """``value`` as an ``int`` if it is an integer (not a bool) ``>= minimum``; else a ``ValueError`` saying
    ``"<name> must be <description>, got <value>"``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be {description}, got {value!r}")
    return int(value)
