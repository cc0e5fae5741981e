#!/usr/bin/env bash
# PyTC v1's own training augmentor (zudi-lin/pytorch_connectomics at a pinned commit), per
# sample, one thread on one core: the default chain from PyTC's default config and each
# transform alone at P 1, for (8,256,256) and (17,225,225) with one uint16 'label' mask.
# See benches/peer/pytc_augment.py for what exactly is timed.
#
# Usage: bash benches/run_pytc_augment_bench.sh [extra pytc_augment.py args, e.g. --samples 30 --json]
# Environment:
#   VOXLOAD_PYTC_VENV     throwaway venv, created or reused (default /tmp/voxload-pytc-venv)
#   VOXLOAD_PYTC_SRC      PyTC source at the pinned commit; reused if present (default /tmp/pytc-src)
#   VOXLOAD_PYTC_GIT_DIR  optional local (bare) git dir holding the commit, used instead of cloning
#   VOXLOAD_PYTC_TORCH    auto (default: try torch's CPU wheel, go on without it if that fails;
#                         the timed transforms never import it), 1 (required), 0 (do not try)
#   VOXLOAD_PYTC_CPU      core to pin to with taskset (default 0)
# Every step that fails says which and exits non-zero; no figure is printed without the peer.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VOXLOAD_PYTC_VENV:-/tmp/voxload-pytc-venv}"
src="${VOXLOAD_PYTC_SRC:-/tmp/pytc-src}"
torch_mode="${VOXLOAD_PYTC_TORCH:-auto}"
cpu="${VOXLOAD_PYTC_CPU:-0}"
commit="20ccfde6f85868351b00d7b795d4cf89a251d6be"
repo_url="https://github.com/zudi-lin/pytorch_connectomics"
# Pins contemporary with the commit (June 2025) that still provide what its imports use
# (e.g. scipy.ndimage.filters / .morphology, removed only in SciPy 2).
pins=(numpy==2.2.6 scipy==1.15.3 scikit-image==0.25.2 opencv-python-headless==4.11.0.86 yacs==0.1.8)
torch_pins=(torch==2.7.1 torchvision==0.22.1)
fail() { echo "run_pytc_augment_bench.sh: $*: the PyTC comparison cannot run" >&2; exit 1; }

export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMEXPR_NUM_THREADS=1

# 1. The venv with pinned packages.
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || fail "step venv: cannot create a virtualenv at $venv"
fi
py="$venv/bin/python"
pinned_ok() {  # all of the given name==version pins installed?
  "$py" - "$@" <<'EOF'
import sys, importlib.metadata as m
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    try:
        have = m.version(name)
    except m.PackageNotFoundError:
        sys.exit(1)
    if have != want:
        sys.exit(1)
EOF
}
if ! pinned_ok "${pins[@]}"; then
  echo "installing ${pins[*]} into $venv" >&2
  "$py" -m pip install --quiet --disable-pip-version-check "${pins[@]}" >&2 \
    || fail "step pip: could not install ${pins[*]} into $venv"
fi
"$py" -c "import numpy, scipy.ndimage, skimage.transform, skimage.filters, skimage.draw, cv2, yacs.config" \
  || fail "step imports: the pinned packages installed but do not import"
case "$torch_mode" in
  0) ;;
  1|auto)
    if ! pinned_ok "${torch_pins[@]}"; then
      echo "installing ${torch_pins[*]} (CPU wheels) into $venv" >&2
      if ! "$py" -m pip install --quiet --disable-pip-version-check --retries 1 --timeout 30 \
          --index-url https://download.pytorch.org/whl/cpu "${torch_pins[@]}" >&2; then
        [ "$torch_mode" = 1 ] && fail "step torch: could not install ${torch_pins[*]} from the CPU index"
        echo "run_pytc_augment_bench.sh: note: torch's CPU wheels could not be installed; going on" \
          "without torch (no timed PyTC transform imports it; copy_paste, disabled by default, is stubbed)" >&2
      fi
    fi ;;
  *) fail "step torch: VOXLOAD_PYTC_TORCH must be auto, 1 or 0, not '$torch_mode'" ;;
esac

# 2. PyTC's source at the pinned commit.
marker="$src/.voxload-pytc-commit"
if [ ! -f "$src/connectomics/data/augmentation/build.py" ]; then
  [ -e "$src" ] && [ -n "$(ls -A "$src" 2>/dev/null)" ] \
    && fail "step source: $src exists but holds no connectomics/data/augmentation"
  mkdir -p "$src" || fail "step source: cannot create $src"
  if [ -n "${VOXLOAD_PYTC_GIT_DIR:-}" ]; then
    git --git-dir="$VOXLOAD_PYTC_GIT_DIR" archive "$commit" | tar -x -C "$src" \
      || fail "step source: cannot extract $commit from $VOXLOAD_PYTC_GIT_DIR"
    echo "$commit" > "$marker"
  else
    { git clone --quiet "$repo_url" "$src" && git -C "$src" checkout --quiet "$commit"; } >&2 \
      || fail "step source: cannot clone $repo_url at $commit into $src"
  fi
fi
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1 \
    && [ "$(git -C "$src" rev-parse --show-toplevel)" = "$(cd "$src" && pwd -P)" ]; then
  have=$(git -C "$src" rev-parse HEAD)
elif [ -f "$marker" ]; then
  have=$(cat "$marker")
else
  have=unknown
fi
case "$have" in
  "$commit") ;;
  unknown) echo "run_pytc_augment_bench.sh: note: cannot verify the commit of $src (no git, no marker);" \
             "assuming $commit" >&2 ;;
  *) fail "step source: $src is at $have, not $commit" ;;
esac

# 3. Run, single thread, one core.
versions=$("$py" -c "import importlib.metadata as m, sys
names = ('numpy', 'scipy', 'scikit-image', 'opencv-python-headless', 'yacs', 'torch', 'torchvision')
def v(n):
    try: return m.version(n)
    except m.PackageNotFoundError: return 'absent'
print('python', sys.version.split()[0], *(f'{n} {v(n)}' for n in names))")
echo "== PyTC $commit ($versions)"
echo "== load: $(uptime)"
pin=()
if command -v taskset >/dev/null 2>&1; then
  pin=(taskset -c "$cpu")
else
  echo "run_pytc_augment_bench.sh: note: taskset not found; not pinned to one core" >&2
fi
PYTHONPATH="$src${PYTHONPATH:+:$PYTHONPATH}" "${pin[@]}" "$py" benches/peer/pytc_augment.py \
  --commit "$commit" "$@" || fail "step run: benches/peer/pytc_augment.py failed"
echo "== load after: $(uptime)" >&2  # stderr: keep a --json object the last stdout line
