"""A folder lock that names its holder and survives a killed holder (standard library only).

Two ``amos train --out runs/x`` at once would mix two runs in one folder; two processes filling the
same preprocessed cache would write its index over each other. :class:`FolderLock` prevents both: it
creates ``FOLDER/.amos.lock`` with ``os.O_CREAT | os.O_EXCL`` (atomic on local file systems and on
NFSv3+) and writes the holder's process id and host name into it. A second process either gets a
one-line :class:`LockedError` naming the folder and the holder (``wait=0``), or waits for the lock.

A lock left behind by a process that was killed (``kill -9``, a crashed machine is not detected: see
below) is *stale*: its holder runs on this host and its process id is no longer alive. A stale lock
is taken over with a message. A lock held on another host cannot be checked from here; the error
then says which host and process to look at and which file to delete if it is gone.

Examples:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with FolderLock(folder, what="run folder"):
    ...     pass
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, Iterator

__all__ = ["LOCK_NAME", "FolderLock", "LockedError", "locked_output_folder", "read_lock", "pid_alive"]

#: Name of the lock file inside a locked folder.
LOCK_NAME = ".amos.lock"
#: Seconds between two tries while waiting for a lock.
_POLL_S = 0.5


class LockedError(RuntimeError):
    """The folder is locked by another living process (the message names the folder and the holder)."""


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (``os.kill(pid, 0)``).

    Args:
        pid: A process id.

    Returns:
        True if the process exists (even if owned by another user), False otherwise.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, but belongs to someone else
        return True
    except OSError:
        return False
    return True


def read_lock(path: str | os.PathLike) -> dict[str, Any] | None:
    """The holder recorded in a lock file (``pid``, ``host``, ``started``, ``what``), or None if unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class FolderLock:
    """An exclusive lock on a folder, held by this process between ``acquire`` and ``release``.

    Introduced in chapter *Training the baselines*. Built on ``os.open(O_CREAT | O_EXCL)``.

    Args:
        folder: The folder to lock (created if needed).
        what: Words for the folder in messages (``"run folder"``, ``"preprocessed cache"``).
        wait: Seconds to wait for a lock held by a living process before giving up; 0: fail at once.

    Raises:
        LockedError: From :meth:`acquire`, when another living process holds the lock.
        ValueError: If ``wait`` is negative.

    Examples:
        >>> import tempfile
        >>> lock = FolderLock(tempfile.mkdtemp()).acquire()
        >>> lock.release()
    """

    def __init__(self, folder: str | os.PathLike, what: str = "folder", wait: float = 0.0) -> None:
        if not wait >= 0:
            raise ValueError(f"wait must be >= 0 seconds, got {wait!r}")
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.what = what
        self.wait = float(wait)
        self._held = False
        self._record = ""

    def _try_create(self) -> bool:
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "what": self.what,
        }
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        text = json.dumps(record) + "\n"
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        self._record = text
        return True

    def _holder_text(self, holder: dict[str, Any] | None) -> str:
        if holder is None:
            return "an unknown process (the lock file is empty or unreadable)"
        return f"process {holder.get('pid')} on {holder.get('host')} (since {holder.get('started')})"

    def _is_stale(self, holder: dict[str, Any] | None) -> bool:
        if holder is None:
            # Being written this very moment, or left empty by a crash: a fresh file gets time to fill.
            try:
                return time.time() - self.path.stat().st_mtime > 10 * _POLL_S
            except FileNotFoundError:
                return False
        if holder.get("host") != socket.gethostname():
            return False  # cannot check a process on another machine
        try:
            pid = int(holder.get("pid"))
        except (TypeError, ValueError):
            return True
        return not pid_alive(pid)

    def _take_over(self, holder: dict[str, Any] | None) -> None:
        # Re-read just before removing, so that a lock just created by another process survives.
        if read_lock(self.path) != holder:
            return
        try:
            self.path.unlink()
        except FileNotFoundError:
            return
        print(
            f"{self.path}: taking over a stale lock of the {self.what} left by {self._holder_text(holder)}, "
            "which is no longer running",
            file=sys.stderr,
        )

    def acquire(self) -> "FolderLock":
        """Take the lock, waiting up to ``wait`` seconds for a living holder; take over a stale one.

        Returns:
            ``self``.

        Raises:
            LockedError: ``"FOLDER: ... is in use by process PID on HOST ..."``.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.wait
        said = False
        while True:
            if self._try_create():
                self._held = True
                return self
            holder = read_lock(self.path)
            if self._is_stale(holder):
                self._take_over(holder)
                continue
            if time.monotonic() >= deadline:
                raise LockedError(
                    f"{self.folder}: this {self.what} is in use by {self._holder_text(holder)}; wait for it to "
                    f"finish, or choose another folder (if that process is gone, delete {self.path})"
                )
            if not said:
                print(
                    f"{self.folder}: waiting for {self._holder_text(holder)}, which uses this {self.what}",
                    file=sys.stderr,
                )
                said = True
            time.sleep(_POLL_S)

    def release(self) -> None:
        """Remove the lock file if this process holds it (a no-op otherwise)."""
        if not self._held:
            return
        self._held = False
        try:
            if self.path.read_text(encoding="utf-8") == self._record:
                self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._held

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def locked_output_folder(folder: str | os.PathLike, what: str = "output folder") -> Iterator[Path]:
    """Hold an output folder's :class:`FolderLock` and remove what a killed run left half-written in it.

    Introduced in chapter *Evaluating segmentations*. ``amos predict`` and ``amos postprocess`` write their
    folders under this lock, as ``amos train`` writes a run folder: a second process writing into the same
    folder gets one :class:`LockedError` line naming the holder, and the temporary files of a killed write
    (:func:`amos_tutorial.utils.io.remove_partial_files`) are removed once the lock is held.

    Args:
        folder: The output folder (created).
        what: Words for the folder in messages (``"prediction folder"``).

    Yields:
        The folder.
    """
    from amos_tutorial.utils.io import remove_partial_files

    with FolderLock(folder, what=what) as lock:
        remove_partial_files(lock.folder)
        yield lock.folder
