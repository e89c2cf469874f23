"""Where the image files live, how they are verified, and how they arrive (download only on request).

``data_dir()`` resolves the root folder that holds ``mnist/``, ``fashion-mnist/`` and
``kmnist/``: an explicit argument, else ``$QCSTAR_DATA``, else ``~/.cache/qcstar/data``. Each
folder holds the four original ``.gz`` files under their original names.

Every file's byte size and SHA-256 are recorded in :data:`qcstar.data.catalogue.FILES`. A
verified file is remembered per (path, size, mtime) for the life of the process, so repeated
loads do not rehash tens of megabytes. Nothing is downloaded unless a caller asks
(``download=True`` or :func:`download`); tests and imports never touch the network.
"""

from __future__ import annotations

import os
import pathlib
import tempfile

from qcstar.circuits.digest import file_sha256
from qcstar.circuits.errors import DataError
from qcstar.circuits.files import default_file_mode

from .catalogue import FILES, MIRRORS, FileInfo, as_path, canonical_source

__all__ = ["data_dir", "download", "verify_file"]

ENV_VAR = "QCSTAR_DATA"
_DEFAULT_ROOT = "~/.cache/qcstar/data"

_CHUNK = 1 << 20


def data_dir(explicit: str | os.PathLike | None = None) -> pathlib.Path:
    """Return the root folder that holds ``mnist/``, ``fashion-mnist/`` and ``kmnist/``.

    Precedence: ``explicit`` (a ``--data-dir`` flag), then ``$QCSTAR_DATA``, then
    ``~/.cache/qcstar/data``. The folder need not exist (a download creates it).
    """
    if explicit is not None and explicit != "":
        return as_path(explicit, "data_dir (--data-dir)").expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return pathlib.Path(env).expanduser()
    return pathlib.Path(_DEFAULT_ROOT).expanduser()


# ``download`` and ``load_images`` take a keyword ``data_dir`` that shadows the function.
resolve_root = data_dir

# Verified files, keyed by (resolved path, size, mtime_ns, expected digest). Only successes
# are stored; a file that is replaced or touched gets a new key and is hashed again.
_VERIFIED: set[tuple[str, int, int, str]] = set()


def verify_file(path: str | os.PathLike, expected_sha256: str) -> None:
    """Check a file's SHA-256 by streaming it; raise :class:`DataError` on a mismatch.

    The message names the file, the expected and the actual digest. A successful check is
    cached for the process per (path, size, mtime), so verifying the same file again is free.
    """
    p = pathlib.Path(path)
    expected = expected_sha256.strip().lower()
    try:
        st = p.stat()
    except FileNotFoundError:
        raise DataError(f"cannot verify {p}: the file does not exist") from None
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns, expected)
    if key in _VERIFIED:
        return
    actual = file_sha256(p)
    if actual != expected:
        raise DataError(
            f"checksum mismatch for {p}: expected sha256 {expected}, got {actual}; the file is "
            "corrupt or not the original. Delete it and fetch it again (download=True verifies "
            "before keeping a file)."
        )
    _VERIFIED.add(key)


def check_known_file(path: pathlib.Path, info: FileInfo) -> None:
    """Size check first (cheap, catches truncated downloads with a clear message), then SHA-256."""
    size = path.stat().st_size
    if size != info.size:
        raise DataError(
            f"{path} has {size} bytes, expected {info.size} (sha256 {info.sha256}); the file is "
            "truncated or not the original. Delete it and fetch it again (download=True)."
        )
    verify_file(path, info.sha256)


def file_ok(path: pathlib.Path, info: FileInfo, *, verify: bool) -> bool:
    """Whether ``path`` exists and (with ``verify``) is the original file."""
    if not path.is_file():
        return False
    if not verify:
        return True
    try:
        check_known_file(path, info)
    except DataError:
        return False
    return True


def fetch(name: str, filename: str, folder: pathlib.Path, *, timeout: float = 60.0) -> None:
    """Fetch one file to a temporary name in ``folder``, verify it, then rename it into place."""
    import urllib.request

    info = FILES[name][filename]
    url = MIRRORS[name] + filename
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=folder)
    tmp = pathlib.Path(tmp_name)
    try:
        os.fchmod(fd, default_file_mode())  # mkstemp's 0600 would stay on the kept file
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        size, digest = tmp.stat().st_size, file_sha256(tmp)
        if size != info.size or digest != info.sha256:
            raise DataError(
                f"download of {url} failed verification: got {size} bytes, sha256 {digest}; "
                f"expected {info.size} bytes, sha256 {info.sha256}. Nothing was kept; try again later."
            )
        os.replace(tmp, folder / filename)  # atomic on one file system: never a half file
    except OSError as exc:  # urllib's URLError is an OSError
        raise DataError(f"could not download {url} into {folder}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def download(name: str, *, data_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """Fetch the four ``.gz`` files of ``name`` from the official mirror into ``data_dir/name/``.

    Files already present with the right SHA-256 are kept. Each new file is written to a
    temporary name, verified (size and SHA-256), then renamed into place, so an interrupted
    download never leaves a file that a later load would trust. Uses ``urllib`` only.
    Returns the folder. ``"digits"`` ships with scikit-learn and needs no download.
    """
    name = canonical_source(name)
    if name == "digits":
        raise DataError("digits ships inside scikit-learn (sklearn.datasets.load_digits); there is nothing to download")
    folder = resolve_root(data_dir) / name
    failures = []
    for filename, info in FILES[name].items():
        if not file_ok(folder / filename, info, verify=True):
            try:
                fetch(name, filename, folder)
            except DataError as exc:  # keep going: the other files may still arrive
                failures.append(str(exc))
    if failures:
        raise DataError(f"{name}: {len(failures)} of {len(FILES[name])} files could not be fetched:\n" + "\n".join(failures))
    return folder
