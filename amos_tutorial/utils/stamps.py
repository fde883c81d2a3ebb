"""The rerun rule of every resumable step: an output is reused only while its inputs are the ones it was made from.

Introduced in chapter *Preprocessing and augmentation*. A resumable step (the preprocessed cache,
``amos predict``, ``amos postprocess``) skips outputs that exist, so that an interrupted run resumes. An output
whose input changed since (a re-downloaded scan, a fixed prediction) must not be skipped: the step records the
identity of each output's inputs (:func:`file_stamp`: resolved path, size, modification time in ns; a plan's
contents by :func:`content_hash`) in an :class:`InputRecord` beside the outputs, and redoes an output whose
recorded inputs differ from the current ones. Settings that apply to the whole folder (the run, the plan) are
compared once, and a folder made with other settings is refused in one line.

Examples:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> source = folder / "a.txt"; _ = source.write_text("x")
    >>> record = InputRecord(folder / "inputs.json")
    >>> record.is_current("a", {"source": file_stamp(source)})
    False
    >>> record.set("a", {"source": file_stamp(source)})
    >>> InputRecord(folder / "inputs.json").is_current("a", {"source": file_stamp(source)})
    True
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["INPUTS_FILE", "InputRecord", "content_hash", "file_stamp"]

#: Name of the :class:`InputRecord` file in an output folder of ``amos predict`` and ``amos postprocess``.
INPUTS_FILE = "inputs.json"
_FORMAT = "amos_tutorial input identities"


def file_stamp(path: str | os.PathLike) -> dict[str, Any]:
    """The identity of a file: resolved path, size in bytes and modification time in nanoseconds.

    Introduced in chapter *Preprocessing and augmentation*. Cheap (one ``stat``); a file rewritten with
    other content gets another size or modification time.

    Args:
        path: The file.

    Returns:
        ``{"path": str, "size": int, "mtime_ns": int}``.

    Raises:
        OSError: If the file cannot be looked at (missing, permission).
    """
    path = Path(path)
    st = path.stat()
    return {"path": str(path.resolve()), "size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def content_hash(path: str | os.PathLike) -> str:
    """SHA-256 of a small file's bytes (a plan, a settings file): its identity whatever its time stamp.

    Raises:
        OSError: If the file cannot be read.
    """
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class InputRecord:
    """What each output of a folder was made from, kept as JSON beside the outputs and written atomically.

    Introduced in chapter *Preprocessing and augmentation*. An unreadable or foreign file counts as empty:
    every output is then redone, never wrongly reused.

    Args:
        path: The JSON file (:data:`INPUTS_FILE` in the output folder).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._entries: dict[str, Any] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return
        if isinstance(data, dict) and data.get("format") == _FORMAT and isinstance(data.get("outputs"), dict):
            self._entries = data["outputs"]

    def is_current(self, name: str, inputs: dict[str, Any]) -> bool:
        """Whether output ``name`` was recorded as made from exactly ``inputs``."""
        return self._entries.get(name) == json.loads(json.dumps(inputs))

    def set(self, name: str, inputs: dict[str, Any]) -> None:
        """Record that output ``name`` was made from ``inputs`` (the file is rewritten atomically)."""
        from amos_tutorial.utils.io import atomic_write_text

        self._entries[name] = json.loads(json.dumps(inputs))
        text = json.dumps({"format": _FORMAT, "outputs": self._entries}, indent=1, sort_keys=True) + "\n"
        atomic_write_text(self.path, text)
