"""Small shared utilities: atomic writes and NIfTI I/O (:mod:`.io`), geometry facts (:mod:`.geometry`),
timing (:mod:`.timing`) and table checks (:mod:`.frames`)."""

from amos_tutorial.utils.io import atomic_path, atomic_write_text, load_nifti, save_nifti

__all__ = ["atomic_path", "atomic_write_text", "load_nifti", "save_nifti"]
