# The pinned Python and JavaScript plugin toolchains (issue #14), sourced by scripts/test.sh
# and bench/run.sh from the repository root: componentize-py in its own virtualenv,
# componentize-js + rolldown from the lockfile in sdk/js. Exports AIRLOCK_PY_TOOLCHAIN and
# AIRLOCK_JS_TOOLCHAIN, which `airlock build` reads. Installs what is missing; when it
# cannot, the failing command says why (nothing is skipped).
export AIRLOCK_PY_TOOLCHAIN="${AIRLOCK_PY_TOOLCHAIN:-$HOME/.cache/airlock-py-toolchain}"
if [ ! -x "$AIRLOCK_PY_TOOLCHAIN/bin/componentize-py" ] ||
   ! "$AIRLOCK_PY_TOOLCHAIN/bin/componentize-py" --version | grep -q '0.25.1'; then
  python3 -m venv "$AIRLOCK_PY_TOOLCHAIN"
  "$AIRLOCK_PY_TOOLCHAIN/bin/pip" install --quiet --disable-pip-version-check -r sdk/python/requirements-build.txt
fi
npm ci --prefix sdk/js --no-audit --no-fund --loglevel=error
export AIRLOCK_JS_TOOLCHAIN="$PWD/sdk/js"
