"""Files that several processes write at once (web workers, the task worker, the CLI):
whole or not at all, and one writer at a time where that matters. No Django here: settings
use it too."""

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def create_exclusively(path: Path, data: bytes) -> bool:
    """Writes `data` to `path` (mode 0600) unless it exists: a file of its own first, then
    linked into place, which only one process can do. True for the one that did; the
    others read the winner's file, never a half-written one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        _fill(fd, data)
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def replace(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replaces `path` with `data` whole: readers see the old file or the new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        _fill(fd, data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked(folder: Path, name: str = ".lock") -> Iterator[None]:
    """One process (and thread) at a time, by an exclusive lock on `folder`/`name`."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(folder / name, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _fill(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
