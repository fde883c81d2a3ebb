"""Every chapter that branches on the data, on a copy of AMOS that is not the full release: CT only, the training
split only, no metadata CSV, 4 cases.

A reader's own copy often differs from the synthetic set the book is written on: the metadata CSV is a
separate download, a Task 1 user keeps only CT, a first download often holds only the training split (the runs
then hold out training cases, and later chapters score those, read from the runs' records). Each chapter must still run to the end on such a copy,
and say in the page which sections it skipped (``skip_note``/``page_note`` outputs). The copy is a
synthetic variant (``amos data synth --cases 4 --modalities CT --splits training --no-metadata``), pointed at through
``$AMOS_DATA`` exactly as a reader's own folder would be. Smoke mode and few cases keep the runs cheap.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO_ROOT, chapter_executor, session_shared_dir

from amos_tutorial.data.synthetic import generate_synthetic_dataset

import nbformat

_BRANCHES = ("skip_note(", "page_note(", "metadata_note")


def _branches_on_the_data(path: Path) -> bool:
    # Only a chapter whose code says in the page what a copy lacks runs differently on it; the others run the
    # same code on any copy, and the reader's-way run of every chapter already covers them.
    code = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    return any(branch in source for source in code for branch in _BRANCHES)


CHAPTERS = [p for p in sorted((REPO_ROOT / "book").glob("*.ipynb")) if _branches_on_the_data(p)]
CHAPTER_IDS = [p.stem for p in CHAPTERS]
VARIANT = {"n_cases": 4, "modalities": ("CT",), "splits": ("training",), "metadata": False}
# Notes each chapter must show on this copy (the start of their bold lead).
EXPECTED_NOTES = {
    "getting_the_data": ["Metadata unknown"],
    "exploring_the_data": ["Metadata unknown", "Skipped: the metadata figure", "Skipped: the MRI case"],
    "preprocessing": ["Skipped: the MRI column"],
    "evaluation": ["No validation split", "One modality"],
    "winners": ["Skipped: the fold runs, the ensemble and the post-processing", "Skipped: the post-processing plan"],
}


@pytest.fixture(scope="module")
def ct_copy_without_metadata(tmp_path_factory) -> Path:
    # One copy for the whole session (all pytest-xdist workers), so that the chapters share its trained
    # runs through the cache; a fresh parent folder, so that no metadata CSV is found beside the data either.
    from filelock import FileLock

    root = session_shared_dir(tmp_path_factory) / "ct_no_metadata" / "amos22"
    with FileLock(f"{root.parent}.lock"):
        if not (root / "dataset.json").is_file():
            generate_synthetic_dataset(root, **VARIANT)
    return root


def test_the_variant_run_keeps_the_chapters_that_branch_on_the_data():
    assert set(EXPECTED_NOTES) <= set(CHAPTER_IDS)
    assert "intro" not in CHAPTER_IDS


def _outputs(nb, kind: str) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == kind]


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("path", CHAPTERS, ids=CHAPTER_IDS)
def test_chapter_runs_on_a_ct_only_copy_without_metadata(path, ct_copy_without_metadata):
    nb = chapter_executor({"AMOS_DATA": str(ct_copy_without_metadata)}).check(str(path)).nb_final
    assert not _outputs(nb, "error")
    stderr = [o.text for o in _outputs(nb, "stream") if o.name == "stderr"]
    assert not stderr, f"a chapter must not print to stderr (it shows up in the book): {stderr}"
    rich = _outputs(nb, "display_data") + _outputs(nb, "execute_result")
    notes = [o.data["text/markdown"] for o in rich if "text/markdown" in o.get("data", {})]
    for lead in EXPECTED_NOTES.get(path.stem, []):
        assert any(n.startswith(f"> **{lead}") for n in notes), f"no note {lead!r} in the page; notes: {notes}"
    # A captioned cell shows its figure, or a note saying why it was skipped.
    images = [o for o in rich if "image/png" in o.get("data", {})]
    skipped = [n for n in notes if n.startswith("> **Skipped")]
    captioned = [c for c in nb.cells if c.get("metadata", {}).get("mystnb", {}).get("figure")]
    assert len(images) + len(skipped) >= len(captioned)
