"""Verified access to the case-study files: a local mirror, else a download cache (pooch).

Every file the loaders read is listed in ``registry.txt`` beside this module, one line per file:
its name (the path below a mirror directory), its hash and the URL it is downloaded from, pinned
to a commit. :func:`fetch` returns a local path whose content matches that hash:

1. If the environment variable ``AFFINETL_DATA_MIRROR`` names a directory that holds the file,
   that copy is hash-checked and returned (nothing is written into the mirror).
2. Otherwise the file is taken from the user cache (``pooch.os_cache("affinetl")``, or
   ``AFFINETL_DATA_DIR``), downloading it there first if needed; pooch checks the hash.
3. With ``AFFINETL_OFFLINE=1`` step 2 never downloads: a missing file raises
   :class:`DataUnavailableError`, which loaders with an offline fallback (SARCOS) catch, and a
   cached file that does not match its hash raises :class:`CorruptDataError` naming the file and
   both hashes (online, pooch replaces such a file by a fresh download).
4. A download that failed is not tried again in the same process (``_FAILED_DOWNLOADS``; a new
   session, or clearing that dict, tries again): the error repeats its first cause.

Both errors are :class:`~affinetl.exceptions.UsageError` subclasses: the command lines print them
on one line and exit with status 2.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pooch

from ..exceptions import UsageError

__all__ = [
    "CorruptDataError",
    "DataUnavailableError",
    "MIRROR_ENV",
    "OFFLINE_ENV",
    "CACHE_ENV",
    "RegistryEntry",
    "cache_dir",
    "fetch",
    "file_digest",
    "registry",
]

logger = logging.getLogger(__name__)

MIRROR_ENV = "AFFINETL_DATA_MIRROR"
OFFLINE_ENV = "AFFINETL_OFFLINE"
CACHE_ENV = "AFFINETL_DATA_DIR"

_REGISTRY_FILE = Path(__file__).with_name("registry.txt")
#: URLs whose download failed in this process, with the reason: not tried again (a loader with
#: an offline fallback, called in a loop, would otherwise retry and log every time).
_FAILED_DOWNLOADS: dict[str, str] = {}


class DataUnavailableError(UsageError, OSError):
    """A registered file is neither in the mirror nor in the cache and cannot be downloaded."""


class CorruptDataError(UsageError):
    """A local copy of a registered file does not match its registered hash."""


@dataclass(frozen=True)
class RegistryEntry:
    """One registered file.

    Attributes
    ----------
    name : str
        Path below a mirror directory, e.g. ``"radonpy/PI1070.csv"``; also its cache path.
    algorithm : str
        ``"sha256"`` or ``"gitblob"`` (SHA-1 of the git blob object, as ``git hash-object``).
    digest : str
        Hexadecimal hash.
    url : str
        Download URL (pinned to a commit).
    """

    name: str
    algorithm: str
    digest: str
    url: str


@lru_cache(maxsize=1)
def registry() -> dict[str, RegistryEntry]:
    """Parse ``registry.txt``.

    Returns
    -------
    dict of str to RegistryEntry
        Every registered file by name.
    """
    entries: dict[str, RegistryEntry] = {}
    for number, line in enumerate(_REGISTRY_FILE.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 3 or ":" not in fields[1]:
            raise ValueError(f"{_REGISTRY_FILE}:{number}: expected '<name> <alg:hash> <url>'")
        algorithm, digest = fields[1].split(":", 1)
        entries[fields[0]] = RegistryEntry(fields[0], algorithm, digest.lower(), fields[2])
    return entries


def cache_dir() -> Path:
    """Directory of the download cache (``AFFINETL_DATA_DIR`` or ``pooch.os_cache``)."""
    custom = os.environ.get(CACHE_ENV)
    return Path(custom).expanduser() if custom else Path(pooch.os_cache("affinetl"))


def file_digest(path: str | os.PathLike[str], algorithm: str) -> str:
    """Hash of a file.

    Parameters
    ----------
    path : path-like
        File to hash.
    algorithm : {"sha256", "gitblob"}
        ``"gitblob"`` is the SHA-1 of ``b"blob <size>\\0" + content``, git's object id.

    Returns
    -------
    str
        Lower-case hexadecimal digest.
    """
    if algorithm == "gitblob":
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(b"blob %d\0" % Path(path).stat().st_size)
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    return pooch.file_hash(str(path), alg=algorithm)


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _check(path: Path, entry: RegistryEntry, offline: bool = False) -> Path:
    found = file_digest(path, entry.algorithm)
    if found != entry.digest:
        why = f" ({OFFLINE_ENV} is set, so it was not downloaded again)" if offline else ""
        raise CorruptDataError(
            f"{path}: {entry.algorithm} hash {found} does not match the registered "
            f"{entry.digest} for {entry.name!r}{why}; the file is corrupt or a different "
            "version. Delete it (or fix the mirror) and try again."
        )
    return path


def _reason(error: BaseException) -> str:
    """The innermost cause of a download error, on one short line (requests nests the DNS or
    HTTP failure several exceptions deep in a long message)."""
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    text = " ".join(str(error).split())
    text = text.rpartition("): ")[2] if "): " in text else text
    return f"{type(error).__name__}: {text[:160]}"


def fetch(name: str) -> Path:
    """Local, hash-verified path of a registered case-study file.

    Parameters
    ----------
    name : str
        Registered name, e.g. ``"afzal2021/ap0c00524_si_001.csv"`` (see ``registry.txt``).

    Returns
    -------
    pathlib.Path
        Path in the mirror (``AFFINETL_DATA_MIRROR``) or in the download cache.

    Raises
    ------
    KeyError
        If ``name`` is not registered.
    CorruptDataError
        If a local copy does not match its registered hash (a ``ValueError``).
    DataUnavailableError
        If the file is in neither place and downloads are off (``AFFINETL_OFFLINE``) or fail.

    Examples
    --------
    >>> from affinetl.datasets import fetch
    >>> fetch("radonpy/PI1070.csv").name  # doctest: +SKIP
    'PI1070.csv'
    """
    entries = registry()
    if name not in entries:
        raise KeyError(f"{name!r} is not a registered case-study file; known: {sorted(entries)}")
    entry = entries[name]
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        candidate = Path(mirror).expanduser() / name
        if candidate.is_file():
            logger.debug("reading %s from the mirror %s", name, mirror)
            return _check(candidate, entry)
        logger.info("%s is not in the mirror %s; using the download cache", name, mirror)
    cached = cache_dir() / name
    if cached.is_file() and entry.algorithm == "gitblob":
        return _check(cached, entry)
    if _offline() and cached.is_file():  # never replaced by a download while offline
        return _check(cached, entry, offline=True)
    if _offline():
        raise DataUnavailableError(
            f"{name!r} is not in the mirror ({MIRROR_ENV}={mirror!r}) nor in the cache "
            f"{cache_dir()}, and {OFFLINE_ENV} forbids downloading it from {entry.url}"
        )
    if entry.url in _FAILED_DOWNLOADS:
        raise DataUnavailableError(
            f"could not download {name!r} (failed earlier in this process: "
            f"{_FAILED_DOWNLOADS[entry.url]})"
        )
    known_hash = f"sha256:{entry.digest}" if entry.algorithm == "sha256" else None
    try:
        path = pooch.retrieve(
            entry.url,
            known_hash=known_hash,
            fname=Path(name).name,
            path=cached.parent,
            progressbar=False,
        )
    except ValueError as error:  # pooch: the downloaded file does not match its hash
        raise CorruptDataError(f"downloaded {name!r} from {entry.url}: {error}") from error
    except Exception as error:  # requests/urllib errors: no network, HTTP 404, ...
        _FAILED_DOWNLOADS[entry.url] = _reason(error)
        raise DataUnavailableError(
            f"could not download {name!r} from {entry.url}: {_FAILED_DOWNLOADS[entry.url]}"
        ) from error
    path = Path(path)
    if entry.algorithm != "sha256":
        try:
            _check(path, entry)
        except ValueError:
            path.unlink(missing_ok=True)
            raise
    return path
