"""Item 5: wall time to execute every course notebook on its quick (default) path.

Each notebook is copied into a temporary folder and executed there in a fresh ``python3`` kernel with
nbconvert, so the notebooks in the repository are never modified (the kernel talks to nbconvert
over Unix sockets in that folder). The notebooks read the test sets bundled with the package, so the
run needs no dataset files; whether ``CAPSULE_LESSON_DATA`` was set is recorded all the same.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def execute(notebook, out_dir, env, timeout):
    """Execute one notebook with nbconvert; (seconds, ok, error lines, timed out)."""
    cmd = [sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute",
           "--ExecutePreprocessor.kernel_name=python3",
           f"--ExecutePreprocessor.timeout={timeout}",
           # Unix sockets in the temporary folder, not TCP ports: with TCP, notebooks stalled here
           # (kernel idle, nbconvert waiting) while other processes started kernels; two of them
           # picking the same port is the suspected cause
           "--KernelManager.transport=ipc",
           "--output-dir", str(out_dir), str(notebook)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=notebook.parent, env=env, capture_output=True, text=True,
                              timeout=10 * timeout)
        ok, err = proc.returncode == 0, proc.stderr.strip().splitlines()[-3:]
        # no paths of this machine in the saved results
        err = [re.sub(r"\x1b\[[0-9;]*m", "", line).replace(str(notebook.parent.parent), "<temporary folder>")
               for line in err]
        timed_out = not ok and any("Timeout" in line or "timed out" in line for line in err)
    except subprocess.TimeoutExpired:
        ok, err, timed_out = False, [f"timed out after {10 * timeout} s"], True
    return time.perf_counter() - start, ok, err, timed_out


def run_course(notebook_dir, timeout=120, log=print):
    """Execute every ``*.ipynb`` in ``notebook_dir``, one after another; per-notebook wall times.

    ``timeout`` bounds each cell (every notebook is meant to finish in about a minute). A notebook
    whose kernel stalls past it is run once more, and the row says so (``first_try``).
    """
    notebooks = sorted(Path(notebook_dir).glob("*.ipynb"))
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.pop("KERAS_BACKEND", None)           # the course's default backend
    rows = []
    with tempfile.TemporaryDirectory(prefix="capsule-course-") as tmp:
        work, out = Path(tmp, "in"), Path(tmp, "out")
        work.mkdir()
        out.mkdir()
        for nb in notebooks:
            copy = work / nb.name
            shutil.copy2(nb, copy)
            seconds, ok, err, timed_out = execute(copy, out, env, timeout)
            row = {"notebook": nb.name}
            if timed_out:
                log(f"[course] {nb.name}: stalled for {seconds:.0f} s; running it once more")
                row["first_try"] = {"seconds": round(seconds, 2), "error": err}
                seconds, ok, err, timed_out = execute(copy, out, env, timeout)
            row.update(seconds=round(seconds, 2), ok=ok, **({} if ok else {"error": err}))
            rows.append(row)
            log(f"[course] {nb.name}: {seconds:.1f} s{'' if ok else ' FAILED'}")
    return {"notebooks": rows, "total_s": round(sum(r["seconds"] for r in rows), 2),
            "all_ok": all(r["ok"] for r in rows),
            "stalled_and_rerun": [r["notebook"] for r in rows if "first_try" in r],
            "capsule_lesson_data_set": bool(os.environ.get("CAPSULE_LESSON_DATA"))}
