#!/usr/bin/env bash
# Capsule Lesson in one command.
#   bash run.sh lab     set up .venv (first time) and open the course in JupyterLab
#   bash run.sh test    set up .venv (first time) and run the whole test suite
#   bash run.sh test --quick   only the unit tests, without the slow and browser ones (~1.5 min here)
#   bash run.sh setup   only set up .venv
# Needs only Python >= 3.11 (PYTHON=python3.12 bash run.sh ... picks another interpreter).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
VENV=.venv
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-3}

setup() {
    if [ ! -x "$VENV/bin/python" ]; then
        echo "Creating $VENV with $($PYTHON --version 2>&1)"
        "$PYTHON" -m venv "$VENV"
    fi
    # Reinstall only when the dependency list changed since the last setup.
    stamp="$VENV/.capsule-lesson-installed"
    want=$(cat pyproject.toml | "$VENV/bin/python" -c "import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())")
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "Installing capsule_lesson and its dependencies into $VENV (a few minutes the first time)"
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet -e ".[test]"
        echo "$want" > "$stamp"
    fi
}

case "${1:-}" in
    setup)
        setup ;;
    lab)
        setup
        exec "$VENV/bin/jupyter" lab notebooks/ ;;
    test)
        setup
        shift
        if [ "${1:-}" = "--quick" ]; then
            shift
            exec "$VENV/bin/python" -m pytest -q -m "not slow and not browser" tests "$@"
        fi
        # 1) unit tests and every notebook (nbval, lax mode: checked cells compare outputs)
        "$VENV/bin/python" -m pytest --nbval-lax --nbval-current-env -q "$@"
        # 2) the Keras layer tests again under the JAX backend
        KERAS_BACKEND=jax "$VENV/bin/python" -m pytest -q -m backend tests ;;
    *)
        sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
        exit 2 ;;
esac
