"""Small shared utilities (atomic writes, NIfTI I/O)."""

from amos_tutorial.utils.io import atomic_path, atomic_write_bytes, atomic_write_text, load_nifti, save_nifti

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "load_nifti", "save_nifti"]
