"""One writer per data directory: an OS file lock held for the life of the process.

Two processes writing one directory (two ``serve``, or ``serve`` and ``import``) would each
rebuild their own state from the log and then diverge silently. ``DirectoryLock`` takes an
exclusive ``flock`` on ``freshrec.lock`` in the directory and writes the owner's pid and
command line into it, so the second process can say who holds it. The kernel drops the lock
when the holder exits, however it exits (kill -9 included): a stale file never blocks.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from pathlib import Path

from freshrec.errors import DataDirectoryInUseError

LOCK_FILE = "freshrec.lock"


class DirectoryLock:
    """An exclusive lock on a data directory; ``release`` (or process exit) frees it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, directory: Path) -> DirectoryLock:
        """Lock ``directory`` for this process.

        Raises:
            DataDirectoryInUseError: another process holds it (the message names it).
        """
        path = directory / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_owner(fd)
            os.close(fd)
            raise DataDirectoryInUseError(str(directory), owner) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "python"
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": command}).encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        """Unlock (idempotent). The file stays: deleting it would race a new holder."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read_owner(fd: int) -> str:
    """``pid N (command)`` of the holder, as it wrote itself into the file."""
    try:
        owner = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {owner['pid']} ({owner['command']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
