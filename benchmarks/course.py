"""Item 5: wall time to execute every course notebook on its quick (default) path.

Each notebook is copied into a temporary folder and executed there in a fresh ``python3`` kernel with
nbconvert, so the notebooks in the repository are never modified. ``CAPSULE_LESSON_DATA`` (where the
full MNIST files are) is passed through from the environment.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_course(notebook_dir, timeout=900, log=print):
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
            cmd = [sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute",
                   "--ExecutePreprocessor.kernel_name=python3",
                   f"--ExecutePreprocessor.timeout={timeout}",
                   "--output-dir", str(out), str(copy)]
            start = time.perf_counter()
            try:
                proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True,
                                      timeout=timeout + 60)
                ok, err = proc.returncode == 0, proc.stderr.strip().splitlines()[-3:]
            except subprocess.TimeoutExpired:
                ok, err = False, [f"timed out after {timeout + 60} s"]
            seconds = time.perf_counter() - start
            rows.append({"notebook": nb.name, "seconds": round(seconds, 2), "ok": ok,
                         **({} if ok else {"error": err})})
            log(f"[course] {nb.name}: {seconds:.1f} s{'' if ok else ' FAILED'}")
    return {"notebooks": rows, "total_s": round(sum(r["seconds"] for r in rows), 2),
            "all_ok": all(r["ok"] for r in rows),
            "capsule_lesson_data_set": bool(os.environ.get("CAPSULE_LESSON_DATA"))}
