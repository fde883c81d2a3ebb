"""Fetch only some cases of the AMOS release: ``amos data download DEST --cases N|ID,...``.

Introduced in chapter *Getting the data*. Built on ``remotezip`` (a :class:`zipfile.ZipFile` that reads
a remote zip with HTTP ``Range`` requests, over ``requests``), :mod:`zlib` for the CRC-32 and the
package's :mod:`~amos_tutorial.data.download` for the metadata CSV.

The release is one 24.2 GB zip. A zip keeps its table of contents (the *central directory*) at its end,
so a client that can ask for byte ranges reads that table (about 100 KB for the release), then
``dataset.json``, then only the members of the chosen cases. What ends up where::

    DEST/labeled_data_meta_0000_0599.csv   the metadata CSV (a separate file of the record, ~35 KB)
    DEST/amos22/dataset.json               the release's, listing only the fetched cases
    DEST/amos22/imagesTr/amos_XXXX.nii.gz  ... the chosen cases, in the release layout
    DEST/amos22/.amos_tutorial_partial.json   the remote file's identity and the members fetched

Safety, as for the full download: the server is asked first whether it honours ``Range`` (one byte);
when it does not, nothing is fetched and :class:`RangeNotSupportedError` says so and names the full
download. Each member goes to a hidden ``.part`` file, its CRC-32 is compared with the one in the
zip's table and only then is it renamed into place and recorded, so an interrupted run resumes member
by member. The remote file's size, ``ETag`` and ``Last-Modified`` are recorded; when they change
between runs, :class:`RemoteChangedError` stops the run rather than mixing two releases. A rerun
with other cases adds them: ``dataset.json`` lists every case fetched so far.

Examples:
    >>> result = download_cases("/data/amos", cases=3)  # doctest: +SKIP
    >>> result.root, len(result.cases), f"{result.fraction:.4f}"  # doctest: +SKIP
    (PosixPath('/data/amos/amos22'), 3, '0.0103')
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import tempfile
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from tqdm.auto import tqdm

from amos_tutorial.data.download import AMOS_ZIP_NAME, AMOS_ZIP_SIZE_GB, ZENODO_BASE_URL, file_url
from amos_tutorial.data.extract import COMPLETE_MARKER, UnsafeArchiveError, member_problem
from amos_tutorial.data.fetch import DownloadError, TransferOptions, download_file
from amos_tutorial.data.release import METADATA_CSV_NAME, RELEASE_DIR_NAME, SPLIT_FOLDERS
from amos_tutorial.data.selection import LABELLED_SPLITS, choose_cases, parse_case_ids
from amos_tutorial.utils.io import atomic_write_text
from amos_tutorial.utils.options import with_settings

__all__ = [
    "PARTIAL_MARKER",
    "RangeNotSupportedError",
    "RemoteChangedError",
    "PartialDownload",
    "probe_range",
    "download_cases",
]

#: Written in the release folder of a partial download: the remote file's identity and the members fetched.
PARTIAL_MARKER = ".amos_tutorial_partial.json"
_HEADERS = {"User-Agent": "amos_tutorial-downloader (remotezip)", "Accept-Encoding": "identity"}
_CHUNK = 1 << 20
# Bytes read first from the end of the zip: its end record, and often the whole central directory.
_TAIL = 16 * 1024
_IDENTITY_KEYS = ("size", "etag", "last_modified")


class RangeNotSupportedError(DownloadError):
    """The server answers a ``Range`` request with the whole file: single cases cannot be fetched from it."""


class RemoteChangedError(DownloadError):
    """The remote zip is not the one an earlier run of the same folder fetched from."""


class PartialDownload(NamedTuple):
    """What :func:`download_cases` did.

    Attributes:
        root: The release folder ``DEST/amos22``.
        cases: Ids of the cases asked for this time (``amos_XXXX``).
        listed: Ids of every case ``dataset.json`` now lists (also those of earlier runs).
        fetched_bytes: Bytes of the zip received in this run (central directory, dataset.json, members).
        zip_bytes: Size of the remote zip.
        members_fetched: Members downloaded in this run.
        members_kept: Members already complete from an earlier run (not downloaded again).
    """

    root: Path
    cases: list[str]
    listed: list[str]
    fetched_bytes: int
    zip_bytes: int
    members_fetched: int
    members_kept: int

    @property
    def fraction(self) -> float:
        """Share of the zip's bytes received in this run."""
        return self.fetched_bytes / self.zip_bytes if self.zip_bytes else 0.0


def _say(message: str) -> None:
    print(message, flush=True)


def probe_range(url: str, timeout: float = 60.0) -> dict[str, Any]:
    """Ask the server for one byte of ``url`` and return the file's identity.

    Introduced in chapter *Getting the data*. Built on ``requests``. The body of an answer that ignores
    ``Range`` is never read: the connection is closed at once.

    Args:
        url: ``http(s)://`` URL of the zip.
        timeout: Seconds to wait for the server.

    Returns:
        ``{"size": bytes, "etag": str | None, "last_modified": str | None}``.

    Raises:
        RangeNotSupportedError: If the server answers with the whole file (status 200) or no size.
        DownloadError: On an HTTP error or a failed connection (the message names the URL).
    """
    import requests

    try:
        response = requests.get(url, headers={**_HEADERS, "Range": "bytes=0-0"}, stream=True, timeout=timeout)
    except requests.RequestException as exc:
        raise DownloadError(f"{url}: cannot connect ({type(exc).__name__}: {exc})") from None
    with contextlib.closing(response):
        if response.status_code == 200:
            raise RangeNotSupportedError(
                f"{url}: the server ignores HTTP Range requests (it answered 'Range: bytes=0-0' with the whole "
                f"file), so single cases cannot be fetched from it; nothing was downloaded. The full release "
                f"({AMOS_ZIP_SIZE_GB} GB) is 'amos data download DEST' without --cases."
            )
        if response.status_code != 206:
            raise DownloadError(f"{url}: HTTP {response.status_code} {response.reason} (while probing Range support)")
        match = re.match(r"^\s*bytes\s+\d+-\d+/(\d+)\s*$", response.headers.get("Content-Range", ""))
        if not match:
            raise RangeNotSupportedError(
                f"{url}: the server answered a Range request without the file size (Content-Range "
                f"{response.headers.get('Content-Range')!r}); use the full download: 'amos data download DEST'"
            )
        return {
            "size": int(match.group(1)),
            "etag": response.headers.get("ETag"),
            "last_modified": response.headers.get("Last-Modified"),
        }


def _open_remote(url: str, size: int, timeout: float, counter: list[int]):
    """A ``remotezip.RemoteZip`` on ``url`` that counts the bytes it receives in ``counter[0]``."""
    from remotezip import RemoteFetcher, RemoteZip

    class _Fetcher(RemoteFetcher):
        def fetch(self, data_range, stream=False):
            if data_range[0] < 0 and data_range[1] is None:  # a suffix range: the size is known already
                data_range = (max(0, size + data_range[0]), size - 1)
            buffer = super().fetch(data_range, stream=stream)
            counter[0] += len(buffer)
            return buffer

    return RemoteZip(url, initial_buffer_size=_TAIL, fetcher=_Fetcher, headers=dict(_HEADERS), timeout=timeout)


def _load_state(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DownloadError(f"{path}: unreadable ({exc}); delete it (and the folder's cases) and run again") from None
    if not isinstance(state, dict) or not isinstance(state.get("members"), dict):
        raise DownloadError(f"{path}: not a partial-download record; delete it and run again")
    return state


def _check_identity(state: dict[str, Any], now: dict[str, Any], url: str, root: Path) -> None:
    changed = [f"{k} {state.get(k)!r} -> {now[k]!r}" for k in _IDENTITY_KEYS if state.get(k) != now[k]]
    if changed:
        raise RemoteChangedError(
            f"{url}: the remote zip changed since the earlier run that wrote {root} ({'; '.join(changed)}); "
            f"its cases may come from another release: move {root} away (or delete it) and run again"
        )


def _release_prefix(zf: zipfile.ZipFile, url: str) -> str:
    """``"amos22/"``: the folder of the zip's top-most ``dataset.json`` (``""`` when at the top)."""
    found = sorted((n for n in zf.namelist() if n.rsplit("/", 1)[-1] == "dataset.json"), key=lambda n: n.count("/"))
    if not found:
        raise DownloadError(f"{url}: no dataset.json in the zip: is this the AMOS release?")
    return found[0][: -len("dataset.json")]


def _entries(data: dict, url: str) -> dict[int, tuple[str, Any]]:
    """case number -> (split, dataset.json entry)."""
    from amos_tutorial.data.layout import case_number

    out: dict[int, tuple[str, Any]] = {}
    for split in SPLIT_FOLDERS:
        items = data.get(split) or []
        if not isinstance(items, list):
            raise DownloadError(f"{url}: dataset.json: '{split}' must be a list, got {type(items).__name__}")
        for entry in items:
            image = entry if isinstance(entry, str) else (entry or {}).get("image")
            if not isinstance(image, str):
                raise DownloadError(f"{url}: dataset.json: {split} entry without an image path: {entry!r}")
            out[case_number(image)] = (split, entry)
    return out


def _member_paths(entry: Any) -> list[str]:
    """Relative paths (``imagesTr/amos_0001.nii.gz``) of one dataset.json entry's image and label."""
    paths = [entry] if isinstance(entry, str) else [entry.get("image"), entry.get("label")]
    return [p.replace("\\", "/").removeprefix("./") for p in paths if isinstance(p, str)]


def _candidates(data: dict, csv_path: Path | None) -> list[Any]:
    """The release's cases with split, modality and scanner: ``load_amos`` on a copy of its dataset.json."""
    from amos_tutorial.data.layout import load_amos

    with tempfile.TemporaryDirectory(prefix="amos_partial_") as tmp:
        Path(tmp, "dataset.json").write_text(json.dumps(data), encoding="utf-8")
        return list(load_amos(tmp, metadata_csv=csv_path).cases)


def _fetch_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, out: Path, url: str, bar) -> None:
    """Stream one member to a hidden part file, check its CRC-32 and rename it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(f".{out.name}.part")
    crc = 0
    try:
        with zf.open(info) as src, open(part, "wb") as dst:
            while chunk := src.read(_CHUNK):
                crc = zlib.crc32(chunk, crc)
                dst.write(chunk)
                bar.update(len(chunk))
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{url}: member {info.filename!r} is corrupt ({type(exc).__name__}: {exc}); nothing of it was kept"
        ) from None
    if crc != info.CRC:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{url}: member {info.filename!r} failed its CRC-32 check ({crc:08x}, expected {info.CRC:08x}); "
            "nothing of it was kept"
        )
    os.replace(part, out)


def download_cases(
    dest: str | os.PathLike,
    cases: int | str | Sequence[int | str],
    modalities: Sequence[str] | None = None,
    splits: Sequence[str] | None = LABELLED_SPLITS,
    seed: int | None = None,
    base_url: str = ZENODO_BASE_URL,
    metadata: bool = True,
    *,
    options: TransferOptions | None = None,
    **settings: Any,
) -> PartialDownload:
    """Fetch only the chosen cases of the remote release zip into ``dest/amos22``.

    Introduced in chapter *Getting the data*. Built on ``remotezip`` and :mod:`zlib`; the cases are picked
    by :func:`~amos_tutorial.data.selection.choose_cases` (spread across split, modality and scanner).

    Args:
        dest: Download folder (created if needed); the cases go to ``dest/amos22``.
        cases: A number of cases, or case ids (``"amos_0001,amos_0507"``, ``[1, 507]``).
        modalities: Keep only these modalities when choosing (``"CT"``, ``"MRI"``); None keeps both.
        splits: Keep only these splits when choosing; the default keeps the labelled ones; None keeps all.
        seed: None: the lowest case numbers first; an integer: a seeded shuffle decides.
        base_url: Folder URL of the record's files (a mirror, or a local test server).
        metadata: Also download the metadata CSV (it decides the modality and scanner of each case).
        options: Timeout (seconds to wait for the server), retries of a member whose transfer was cut (in
            this run), seconds before a retry, progress bar (:class:`~amos_tutorial.data.fetch.TransferOptions`;
            default ``TransferOptions(retries=3)``).
        **settings: Fields of :class:`~amos_tutorial.data.fetch.TransferOptions` given as keywords
            (``progress=False``...); they override ``options``.

    Returns:
        A :class:`PartialDownload` (folder, cases, bytes received and the zip's size).

    Raises:
        RangeNotSupportedError: If the server ignores ``Range`` (nothing is downloaded).
        RemoteChangedError: If the remote zip changed since an earlier run into the same folder.
        DownloadError: On a missing or corrupt member (the message names it) or a failed connection.
        UnsafeArchiveError: If a chosen member's path would escape the folder.
        ValueError: On a bad argument or a case id not in the release.
        TypeError: For a keyword that is not a field of :class:`~amos_tutorial.data.fetch.TransferOptions`.
        FileExistsError: If ``dest/amos22`` exists but was not written by this function.
    """
    transfer = with_settings(TransferOptions, TransferOptions(retries=3) if options is None else options, settings)
    timeout, retries, retry_wait, progress = transfer.timeout, transfer.retries, transfer.retry_wait, transfer.progress
    try:
        import requests
        from remotezip import RemoteZipError
    except ImportError as exc:
        raise DownloadError(
            f"single cases need the remotezip package ({exc.name} is missing): pip install remotezip"
        ) from None

    if isinstance(cases, bool) or (isinstance(cases, int) and cases < 1):
        raise ValueError(f"cases must be a positive number or case ids, got {cases!r}")
    if isinstance(cases, int):
        n, ids = cases, None
    elif isinstance(cases, str):
        n, ids = (int(cases), None) if cases.strip().isdigit() else (None, parse_case_ids(cases))
    else:
        n, ids = None, parse_case_ids(",".join(str(c) for c in cases))
    url = file_url(AMOS_ZIP_NAME, base_url)
    dest = Path(dest).expanduser()
    if dest.exists() and not dest.is_dir():
        raise ValueError(f"{dest}: download destination exists and is not a folder")
    root = dest / RELEASE_DIR_NAME
    if (root / COMPLETE_MARKER).is_file():
        raise FileExistsError(f"{root}: holds the full release already (downloaded and extracted); nothing to fetch")
    state_path = root / PARTIAL_MARKER
    if root.exists() and not state_path.is_file():
        raise FileExistsError(
            f"{root}: folder exists but was not written by 'amos data download --cases'; move it away (or delete it)"
        )

    identity = probe_range(url, timeout=timeout)
    state = _load_state(state_path)
    if state is not None:
        _check_identity(state, identity, url, root)
    else:
        state = {"url": url, **identity, "members": {}, "cases": []}
    dest.mkdir(parents=True, exist_ok=True)
    csv_path = dest / METADATA_CSV_NAME
    if metadata and not csv_path.is_file():
        try:
            download_file(file_url(METADATA_CSV_NAME, base_url), csv_path, md5=None, timeout=timeout, progress=False)
        except DownloadError as exc:  # the cases are still usable: the modality then comes from the id rule
            _say(f"{csv_path}: not downloaded ({exc}); modalities come from the case ids, scanners are unknown")

    counter = [1]  # the probe's byte
    kept = fetched = 0
    try:
        with _open_remote(url, identity["size"], timeout, counter) as zf:
            prefix = _release_prefix(zf, url)
            try:
                data = json.loads(zf.read(prefix + "dataset.json").decode("utf-8-sig"))
            except (ValueError, zipfile.BadZipFile, zlib.error) as exc:
                raise DownloadError(f"{url}: {prefix}dataset.json is unreadable ({exc})") from None
            if not isinstance(data, dict):
                raise DownloadError(f"{url}: {prefix}dataset.json is not a JSON object")
            entries = _entries(data, url)
            picked = choose_cases(
                _candidates(data, csv_path if csv_path.is_file() else None),
                n=n, ids=ids, modalities=modalities, splits=splits, seed=seed,
            )  # fmt: skip
            rels = [rel for case in picked for rel in _member_paths(entries[case.number][1])]
            if (prefix + METADATA_CSV_NAME) in zf.NameToInfo and not csv_path.is_file():
                rels.append(METADATA_CSV_NAME)
            infos = []
            for rel in rels:
                info = zf.NameToInfo.get(prefix + rel)
                if info is None:
                    raise DownloadError(f"{url}: member {prefix + rel!r}, listed in dataset.json, is not in the zip")
                problem = member_problem(info)
                if problem:
                    raise UnsafeArchiveError(f"{url}: entry {info.filename!r} {problem}; not fetched")
                infos.append((rel, info))
            root.mkdir(parents=True, exist_ok=True)
            atomic_write_text(state_path, json.dumps(state, indent=1) + "\n")
            todo = [(rel, info) for rel, info in infos if not _is_done(root, rel, info, state)]
            kept = len(infos) - len(todo)
            with tqdm(
                total=sum(i.file_size for _, i in todo), unit="B", unit_scale=True, unit_divisor=1024,
                desc=f"{len(picked)} cases", disable=not progress,
            ) as bar:  # fmt: skip
                for rel, info in todo:
                    for attempt in range(retries + 1):
                        try:
                            _fetch_member(zf, info, root / rel, url, bar)
                            break
                        except (requests.RequestException, RemoteZipError, ConnectionError) as exc:
                            if attempt == retries:
                                raise DownloadError(
                                    f"{url}: transfer of {info.filename!r} cut {retries + 1} times ({exc}); "
                                    f"{fetched} of {len(todo)} members done, re-run the command to resume"
                                ) from None
                            time.sleep(retry_wait)
                    state["members"][rel] = info.CRC
                    fetched += 1
                    atomic_write_text(state_path, json.dumps(state, indent=1) + "\n")
    except RemoteZipError as exc:
        raise DownloadError(f"{url}: cannot read the remote zip ({type(exc).__name__}: {exc})") from None
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{url}: not a readable zip ({exc})") from None

    listed = sorted(set(state["cases"]) | {c.number for c in picked})
    state["cases"] = listed
    subset = dict(data)
    for split in SPLIT_FOLDERS:
        subset[split] = [entries[k][1] for k in listed if entries[k][0] == split]
    subset.update(numTraining=len(subset["training"]), numValidation=len(subset["validation"]))
    subset["numTest"] = len(subset["test"])
    atomic_write_text(root / "dataset.json", json.dumps(subset, indent=4, ensure_ascii=False) + "\n")
    atomic_write_text(state_path, json.dumps(state, indent=1) + "\n")
    result = PartialDownload(
        root, [c.case_id for c in picked], [f"amos_{k:04d}" for k in listed], counter[0], identity["size"],
        fetched, kept,
    )  # fmt: skip
    _say(
        f"{root}: {len(picked)} case(s) ready ({fetched} file(s) fetched, {kept} kept from an earlier run); "
        f"{result.fetched_bytes:,} of the zip's {result.zip_bytes:,} bytes received ({result.fraction:.2%}); "
        f"dataset.json lists {len(listed)} case(s).\nCheck it with:  amos data validate --data {shlex.quote(str(root))}"
    )
    return result


def _is_done(root: Path, rel: str, info: zipfile.ZipInfo, state: dict[str, Any]) -> bool:
    """Whether a member was fetched, checked and recorded by an earlier run (and is still there, whole)."""
    out = root / rel
    return state["members"].get(rel) == info.CRC and out.is_file() and out.stat().st_size == info.file_size
