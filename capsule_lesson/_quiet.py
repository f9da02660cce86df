"""Keep TensorFlow's start-up chatter out of notebooks.

On a machine without a GPU, importing TensorFlow writes "Could not find cuda drivers" lines straight
to file descriptor 2 from C++, before its logging is configured, so ``TF_CPP_MIN_LOG_LEVEL`` cannot
silence them. When the user asked for quiet (``TF_CPP_MIN_LOG_LEVEL`` >= 2, the course's default) we
point descriptor 2 at /dev/null for the duration of the import only. Python exceptions still propagate.
"""

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet_native_stderr():
    wants_quiet = os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2") >= "2"
    if not wants_quiet or "keras" in sys.modules:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
