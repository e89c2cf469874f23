"""Atomic file writes, the one mechanism every layer uses (README, "Conventions": files we write are written
atomically): a killed run never leaves a half-written file that a resume would trust.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def default_file_mode() -> int:
    """The mode an ordinary ``open(path, "w")`` gives a new file: 0666 less the process umask."""
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path: str | os.PathLike, data: bytes | str, *, encoding: str = "utf-8") -> None:
    """Write ``data`` to ``path``: a temporary file in the same folder, flushed to disk, then
    ``os.replace`` (atomic on one file system). Creates missing parent folders.

    Example::

        write_atomic("runs/result.json", json.dumps(summary))
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode(encoding) if isinstance(data, str) else bytes(data)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; give the file the mode an ordinary open() would (0666 less umask)
        os.fchmod(fd, default_file_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
