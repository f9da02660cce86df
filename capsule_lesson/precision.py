"""Training precision: float32, or Keras's mixed bfloat16 policy where the hardware computes bfloat16 natively.

Under ``"mixed_bfloat16"`` layers compute in bfloat16 and keep float32 weights; the models' score layers, the
squash (see :func:`capsule_lesson.squash`) and the losses stay in float32, where rounding to bfloat16's 8-bit
mantissa would blur the 0.1 / 0.9 margins the loss turns on.

``"auto"`` picks ``"mixed_bfloat16"`` where :func:`bfloat16_support` finds native units (x86 CPUs with
AVX512-BF16 or AMX-BF16, NVIDIA GPUs of compute capability 8.0 or newer) and ``"float32"`` elsewhere, and on a
CPU under JAX, whose XLA kernels measured slower in bfloat16 than in float32 (``benchmarks/README.md``, item 6).
"""

import contextlib
import pathlib
import platform

import keras

PRECISIONS = ("auto", "float32", "mixed_bfloat16")
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_description():
    """``(model name, set of CPU flags)`` from ``/proc/cpuinfo`` (Linux); elsewhere the platform's name, no flags."""
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return platform.processor() or platform.machine(), set()
    model, flags = platform.machine(), set()
    for line in cpuinfo.read_text(errors="ignore").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == platform.machine():
            model = value.strip()
        elif key.strip() in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model, flags


def bfloat16_support():
    """``(native, reason)``: whether the active Keras backend's device computes bfloat16 natively, and why."""
    backend = keras.backend.backend()
    gpus = []
    if backend == "jax":   # each backend imported only when it is the active one (the others may be absent)
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        capabilities = [float(getattr(d, "compute_capability", 0) or 0) for d in gpus]
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        capabilities = []
        for gpu in gpus:
            major, minor = tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
            capabilities.append(major + minor / 10)
    elif backend == "torch":
        import torch

        gpus = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
        capabilities = [major + minor / 10 for major, minor in map(torch.cuda.get_device_capability, gpus)]
    if gpus:
        native = min(capabilities) >= 8.0
        return native, (f"{len(gpus)} GPU(s) of compute capability {min(capabilities):.1f} "
                        f"({'>=' if native else '<'} 8.0 for native bfloat16)")
    model, flags = cpu_description()
    found = sorted(flags & set(CPU_BF16_FLAGS))
    if found and backend == "jax":
        return False, f"CPU {model} with {', '.join(found)}, but JAX's CPU kernels are slower in bfloat16"
    if found:
        return True, f"CPU {model} with {', '.join(found)}"
    return False, f"CPU {model} without {' or '.join(CPU_BF16_FLAGS)}"


def resolve_precision(precision):
    """``(policy, reason)`` for a requested precision: one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    native, why = bfloat16_support()
    if precision == "auto":
        return ("mixed_bfloat16" if native else "float32"), f"auto: {why}"
    return precision, f"requested; {why}"


@contextlib.contextmanager
def dtype_policy(policy):
    """Build and train under Keras's global dtype ``policy``; the previous policy comes back afterwards."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
