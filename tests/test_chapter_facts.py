"""Facts the chapters state about nnU-Net, the AMOS 2022 winners and the published results, checked against the
package and nnU-Net's code, so that a corrected slip cannot come back unnoticed."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import REPO_ROOT

BOOK = REPO_ROOT / "book"
NUMBER_WORDS = {"Eight": 8, "Nine": 9, "Ten": 10, "Eleven": 11, "Twelve": 12}


def _cells(chapter: str, kind: str = "markdown") -> list[str]:
    nb = json.loads((BOOK / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == kind]


def _prose(chapter: str) -> str:
    return " ".join(" ".join(_cells(chapter)).split())


CHAPTERS = sorted(p.stem for p in BOOK.glob("*.ipynb"))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_corrected_slip_comes_back(chapter):
    prose = _prose(chapter)
    for slip in (
        "what nnU-Net does for any non-CT channel",  # nnU-Net's ZScoreNormalization does not clip
        "works at the **median spacing**",  # 3d_fullres takes the 10th percentile on an anisotropic axis
        "full AMOS recipe",  # the full preset is nnU-Net's schedule, not the winners' recipe
        "the one evaluated by *nnU-Net Revisited*",  # Revisited evaluated Auto3DSeg's pipeline, not this SegResNet
        "where the models of the benchmark differ most",  # unsourced
        "measured the residual encoder alone",  # ResEnc L also has about three times ResEnc M's memory
        "the winners' stronger augmentation",  # DA5: one of three Task 1 configurations, none in Task 2
        "DA5 augmentation, ensembles",
    ):
        assert slip not in prose, f"{chapter}: {slip!r}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_winners_notes_are_cited_as_such(chapter):
    for cell in _cells(chapter):
        if "documentation/amos2022" in cell:
            assert "{cite}`nnunet2022amos`" in cell, f"{chapter}: a cell names documentation/amos2022 without its key"


def test_the_number_of_architectures_is_the_registry():
    from amos_tutorial.models import list_models

    match = re.search(r"(\w+) architectures, one training function", _prose("training"))
    assert match is not None
    assert NUMBER_WORDS[match.group(1)] == len(list_models())
    assert f"{len(list_models())} tiny models x 16 steps" in _prose("training")


def test_ct_and_mri_says_nnunet_does_not_clip_and_stunet_is_per_modality():
    prose = _prose("ct_and_mri")
    assert "without clipping" in prose
    assert "separate downstream tasks" in prose


def test_nnunet_zscore_does_not_clip():
    schemes = pytest.importorskip("nnunetv2.preprocessing.normalization.default_normalization_schemes")
    image = np.concatenate([np.linspace(0.0, 1.0, 999), [1000.0]]).reshape(10, 10, 10)
    out = schemes.ZScoreNormalization(use_mask_for_norm=False, intensityproperties={}).run(image.copy())
    np.testing.assert_allclose(out, (image - image.mean()) / image.std(), rtol=1e-5)  # the outlier is kept


def test_nnunet_chapter_states_the_fullres_rule_and_guards_full_mode():
    prose = _prose("nnunet")
    assert "10th percentile" in prose
    assert "{glue:text}`fullres_z`" in prose
    code = " ".join(_cells("nnunet", "code"))
    assert "fullres_target_spacing(fingerprint)" in code
    assert code.count("run the commands printed above first") + code.count("run the training command printed") >= 2


def test_winners_chapter_scopes_da5_and_shows_the_per_organ_results():
    prose = _prose("winners")
    assert "{glue:text}`da5_configurations`" in prose
    assert "{glue:text}`da5_omitted`" in prose
    assert "{glue:text}`gain_resenc_m`" in prose
    assert "{glue:text}`raw_task1`" in prose
    code = " ".join(_cells("winners", "code"))
    assert "plot_winners_per_organ(" in code
    assert "precision=1" not in code  # published Dice keeps the source's two decimals
    assert "one of their three Task 1 configurations" in _prose("intro")

