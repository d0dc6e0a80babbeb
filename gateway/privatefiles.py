"""Files that hold mail: readable by the service only from their first byte, and still there
after a power cut once written (the Maildir, the replies folder, the quarantine folder).

A leaf module (it imports nothing of Postvagt's), so the store and the next hops share it.
"""

from __future__ import annotations

import os
from pathlib import Path


def private_folder(path: Path) -> None:
    """``path`` and every folder above it that is missing, made 0700 (mkdir's mode is cut by
    the umask, so it is set again); folders already there are left as they are."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue  # another writer made it at the same moment, and set its mode
        os.chmod(folder, 0o700)


def write_durably(tmp: Path, final: Path, data: bytes) -> None:
    """Write ``data`` to ``tmp`` (0600 whatever the umask), fsync it, rename it to ``final``
    and fsync ``final``'s folder: the file is whole or absent, never half there."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    folder = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
