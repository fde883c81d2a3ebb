#!/usr/bin/env bash
# Create (or reuse) .venv and install everything the book and the tests need.
# Sourced by scripts/book.sh and scripts/test.sh; safe to re-run (it only installs what is missing).
#   AMOS_TORCH_SPEC  pip spec used when torch is missing (default torch==2.13.0; e.g. "torch" on a GPU box)
#   PYTHON           interpreter used to create the venv (default python3, must be >= 3.10)
#   AMOS_NNUNET      0 skips nnU-Net v2 (the chapter "nnU-Net v2" and tests/test_nnunet.py then cannot run)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
py="${PYTHON:-python3}"
"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "amos_tutorial needs Python >= 3.10, found " + sys.version.split()[0])'
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$py" --version)"
  "$py" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
stamp=.venv/.amos_installed
if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  python -m pip install -q --upgrade pip
  # torch first and explicitly: left to requirements.txt it would resolve to a multi-GB CUDA build.
  if ! python -c "import torch" 2>/dev/null; then
    echo "setup: installing ${AMOS_TORCH_SPEC:-torch==2.13.0}"
    python -m pip install -q "${AMOS_TORCH_SPEC:-torch==2.13.0}"
  fi
  echo "setup: installing requirements.txt and the amos_tutorial package (editable)"
  python -m pip install -q -r requirements.txt
  # setuptools warns on every editable install that a folder named like the package could shadow it: here that
  # folder is the package itself, so the warning only teaches users to ignore warnings.
  PYTHONWARNINGS="ignore:Editable installation" python -m pip install -q --no-deps -e .
  touch "$stamp"
fi

# nnU-Net v2 (chapter "nnU-Net v2: the framework that won", tests/test_nnunet.py), installed WITHOUT its
# torchvision. Why: nnunetv2 -> dynamic-network-architectures -> timm -> torchvision, and a plain
# `pip install nnunetv2` replaces the CPU torch with a multi-GB CUDA build through torchvision (PyPI's
# torchvision wheel does not import beside a CPU torch anyway). timm is used only by the Primus/EVA
# architectures, which this book never builds; the converters, planner, preprocessor, nnUNetTrainer and
# predictor import neither timm nor torchvision. So nnunetv2 and its torch-dependent requirements go in with
# --no-deps and the others (which do not depend on torch) normally. Keep this list in step with nnunetv2's
# own requirements. On a GPU machine `pip install -e ".[nnunet]"` (the `nnunet` extra) installs the full set.
# unittest2 is installed too (batchgenerators declares it, though its code never imports it), so that pip's
# resolver has no conflict to report: a fresh set-up prints no ERROR line.
nnunet_stamp=.venv/.amos_nnunet_installed
if [ "${AMOS_NNUNET:-1}" != 0 ] && { [ ! -f "$nnunet_stamp" ] || [ "${BASH_SOURCE[0]}" -nt "$nnunet_stamp" ]; }; then
  torch_before="$(python -c 'import torch; print(torch.__version__)')"
  echo "setup: installing nnU-Net v2 without torchvision/timm (torch stays $torch_before)"
  python -m pip install -q --no-deps "nnunetv2==2.8.1" "acvl-utils>=0.2.6,<0.3" \
    "dynamic-network-architectures>=0.4.4,<0.5" "batchgenerators>=0.25.1" "batchgeneratorsv2>=0.3.2"
  python -m pip install -q scikit-learn "scikit-image>=0.19.3" "SimpleITK>=2.2.1" graphviz tifffile requests \
    imagecodecs yacs "blosc2>=3.3.2" connected-components-3d pillow future threadpoolctl unittest2
  torch_after="$(python -c 'import torch; print(torch.__version__)')"
  if [ "$torch_after" != "$torch_before" ] || python -c 'import torchvision' 2>/dev/null; then
    echo "setup: error: installing nnU-Net changed torch ($torch_before -> $torch_after) or added torchvision" >&2
    exit 1
  fi
  python -c 'import nnunetv2.experiment_planning.plan_and_preprocess_api, nnunetv2.inference.predict_from_raw_data'
  touch "$nnunet_stamp"
fi
