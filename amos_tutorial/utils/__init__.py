"""Small shared utilities: atomic writes and NIfTI I/O (:mod:`.io`), geometry facts (:mod:`.geometry`),
timing (:mod:`.timing`), table checks (:mod:`.frames`), folder locks (:mod:`.lock`), one-line errors
(:mod:`.errors`), the rerun rule of resumable steps (:mod:`.stamps`) and the device report (:mod:`.device`)."""

from amos_tutorial.utils.io import atomic_path, atomic_write_text, load_nifti, save_nifti

__all__ = ["atomic_path", "atomic_write_text", "load_nifti", "save_nifti"]
