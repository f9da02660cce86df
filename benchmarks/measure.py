"""Timing, memory and machine-description helpers shared by the benchmark workers and the suite.

Nothing here imports Keras at module level: the suite (parent process) uses it too.
"""

import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from importlib import metadata

PACKAGES = ("numpy", "tensorflow", "keras", "jax", "jaxlib", "torch", "nbconvert", "nbclient")


def interleaved_times(fns, warmup=2, repeats=7, shuffle_seed=None):
    """Time each zero-argument callable in ``fns`` (name -> fn), interleaved round by round.

    Every function runs ``warmup`` times first (compilation, caches). Then each round times every
    function once, in an order rotated from round to round (or, with ``shuffle_seed``, shuffled: a rotation
    keeps each function behind the same neighbour, and a heavy neighbour can bias a light call), so a
    burst of load from other processes hits all of them alike. Returns ``{name: [wall seconds per round]}`` and, in the same shape, the
    CPU seconds this process used (all its threads): on a machine shared with other work, CPU time
    is what the call cost us, wall time also counts the waits for a free core.
    """
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    times = {name: [] for name in names}
    cpu = {name: [] for name in names}
    rng = random.Random(shuffle_seed)
    for r in range(repeats):
        k = r % len(names)
        order = names[k:] + names[:k]
        if shuffle_seed is not None:
            rng.shuffle(order)
        for name in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            fns[name]()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return times, cpu


def summary(seconds, cpu_seconds=None):
    """Median, min, max and all samples of the wall time (and the CPU time), in milliseconds."""
    ms = [s * 1e3 for s in seconds]
    out = {"median_ms": statistics.median(ms), "min_ms": min(ms), "max_ms": max(ms),
           "samples_ms": [round(m, 3) for m in ms]}
    if cpu_seconds is not None:
        out["cpu_median_ms"] = statistics.median(s * 1e3 for s in cpu_seconds)
    return out


def paired_ratio(times, numerator, denominator):
    """Median over rounds of ``numerator / denominator`` timed in the same round."""
    return statistics.median(a / b for a, b in zip(times[numerator], times[denominator]))


def linear_fit(xs, ys):
    """Least-squares ``y = a + b x``: returns (intercept a, slope b, R^2)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    slope = sxy / sxx
    intercept = my - slope * mx
    ss_res = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys))
    ss_tot = sum((y - my) ** 2 for y in ys)
    return intercept, slope, 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0


class PeakRSS:
    """Samples this process's resident memory every ``interval`` s while active; ``peak`` in bytes."""

    def __init__(self, interval=0.002):
        import psutil
        self._process = psutil.Process()
        self.interval = interval
        self.start = self.peak = self._process.memory_info().rss
        self._stop = threading.Event()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self):
        self.start = self.peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_total_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def installed_versions():
    """Every package of PACKAGES the suite may use, read from the installed metadata without importing any
    (the suite process stays free of Keras); a training record's ``capsule_lesson.train.versions`` names the
    backend that ran instead."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def git_state(repo):
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    commit = git("rev-parse", "--short", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return {"commit": commit or None, "modified_tracked_files": dirty}


def machine():
    """What the numbers were measured on."""
    return {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "memory_gib": memory_total_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python_executable": os.path.basename(sys.executable),
        "versions": installed_versions(),
    }


def load_average():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None
