"""Every data file almmigrate writes is written atomically, by the functions here.

Exports, reports, templates, connectivity results, plan JSON, project maps and
`--errors` files go to a temporary file (or folder) beside the target, which
is renamed over it only once complete: a failure never leaves half a file,
and an old file stays intact until the new one is whole. ``private=True``
creates everything mode 0600/0700 from the first byte (a file holding secrets
in clear is never readable by others, not even for a moment). A process killed
mid-write cannot clean up: its partial file is named
``NAME.almmigrate-partial-HOST-PID.XXXX`` (visible, so the user can find it)
and the next write into that folder removes it once PID is gone. So is the old
folder a CSV export folder is replacing (``...XXXX-old``): an export with
secrets in clear must not outlive the run that replaced it; if the run died
before the new folder took its place, the old one is put back instead.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from almmigrate.errors import InputError
from almmigrate.interrupts import to_the_end

_PARTIAL = ".almmigrate-partial-"
_OLD = "-old"  # the end of the name of a folder being replaced
_PARTIAL_NAME = re.compile(
    re.escape(_PARTIAL) + r"(?P<host>.+)-(?P<pid>\d+)\.[^.]+?(?P<old>" + _OLD + ")?$"
)
# How a partial file is created: new (never an existing file or a link), binary on Windows.
_NEW_FILE = (
    os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
)
log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_file(target: str | Path, *, private: bool = False) -> Iterator[IO[bytes]]:
    """A binary stream to a temporary file beside target, renamed over it on success.

    Raises InputError when target is a folder or its folder is missing or not
    writable; an OSError while writing is raised as InputError too, naming target.
    """
    target = Path(target)
    if target.is_dir():
        raise InputError(f"{target} is a folder; give a file path")
    parent = writable_parent(target)
    temporary = _partial_path(parent, target)
    try:
        # Created 0600, so a private file is never readable by others.
        descriptor = os.open(temporary, _NEW_FILE, 0o600)
        with os.fdopen(descriptor, "w+b") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        if not private:
            os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    except BaseException as error:
        _remove(temporary)
        if isinstance(error, OSError):
            raise cannot_write(target, error) from None
        raise


@contextlib.contextmanager
def atomic_text(
    target: str | Path, *, encoding: str = "utf-8", private: bool = False
) -> Iterator[IO[str]]:
    """atomic_file as text (newline="": CSV writers choose their own line ends)."""
    with atomic_file(target, private=private) as stream:
        text = io.TextIOWrapper(stream, encoding=encoding, newline="")  # type: ignore[type-var]
        yield text
        text.flush()
        text.detach()


def write_text(
    target: str | Path, content: str, *, encoding: str = "utf-8", private: bool = False
) -> Path:
    """Write a whole text file atomically; returns its path."""
    with atomic_text(target, encoding=encoding, private=private) as stream:
        stream.write(content)
    return Path(target)


@contextlib.contextmanager
def atomic_folder(target: Path, *, private: bool = False) -> Iterator[Path]:
    """A new folder beside target to fill; it replaces target whole on success.

    Files created in it should be made with :func:`new_file` (0600 until the end).
    """
    parent = writable_parent(target)
    work = _partial_path(parent, target)
    try:
        os.mkdir(work, 0o700)
        yield work
        if not private:
            for path in work.iterdir():
                os.chmod(path, 0o666 & ~_umask())
            os.chmod(work, 0o777 & ~_umask())
        _swap_folder(work, target)
    except BaseException as error:
        _remove(work)
        if isinstance(error, OSError):
            raise cannot_write(target, error) from None
        raise


@contextlib.contextmanager
def temporary_folder(label: str) -> Iterator[Path]:
    """A folder of this run's own in the temporary folder (TMPDIR), removed at the end.

    Named as this run's partial (``LABEL.almmigrate-partial-HOST-PID.XXXX``): a run
    killed before it could remove it (SIGKILL, a crash) leaves it, and the next run
    that makes one removes it once PID is gone (an export's row files may hold secrets).
    """
    parent = Path(tempfile.gettempdir())
    remove_abandoned_partials(parent)
    work = _partial_path(parent, Path(label))
    try:
        os.mkdir(work, 0o700)
        yield work
    finally:
        _remove(work)


def new_file(path: Path, encoding: str) -> IO[str]:
    """A new text file readable by its owner only (newline="" for the csv module)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return open(descriptor, "w", encoding=encoding, newline="")


def _swap_folder(work: Path, target: Path) -> None:
    """Put the finished folder in place; an old export folder is replaced whole."""
    if not target.exists():
        os.rename(work, target)
        return
    # Named as this run's partial: should the run die before removing it, the next write
    # into the folder does (or puts it back, if the new folder never took its place).
    old = _partial_path(target.parent, target, _OLD)
    try:
        os.rename(target, old)
        os.rename(work, target)
    except BaseException:
        # A failure or an interrupt (Ctrl-C, SIGTERM) between the two renames: the old
        # folder goes back; one just after them: the new folder stays, the old one goes.
        # A second press meanwhile must not leave the export missing until the next run.
        to_the_end(lambda: _undo_swap(old, target))
        raise
    _remove(old)


def _undo_swap(old: Path, target: Path) -> None:
    if not target.exists():
        with contextlib.suppress(FileNotFoundError):
            os.rename(old, target)
    else:
        _remove(old)


def file_identity(path: str | Path) -> tuple[int, int, int] | None:
    """What tells one write of path from another (device, inode, modification time);
    None when nothing is there. Every write here puts a new file or folder in place,
    so the identity changes exactly when a write has completed."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_dev, found.st_ino, found.st_mtime_ns)


def cannot_write(target: Path, error: OSError) -> InputError:
    return InputError(f"cannot write {target}: {error.strerror or error}")


def writable_parent(target: Path) -> Path:
    """target's folder, after removing the partial files of dead writes in it.

    Raises InputError when the folder is missing or refuses new files.
    """
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"cannot write {target}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {target}: no permission to write in {parent}")
    remove_abandoned_partials(parent)
    return parent


def _partial_prefix(target: Path) -> str:
    return f"{target.name}{_PARTIAL}{socket.gethostname()}-{os.getpid()}."


def _partial_path(parent: Path, target: Path, suffix: str = "") -> Path:
    """A new name for this run's partial of target (48 random bits after the host and PID).

    Named before it is created, not by mkstemp or mkdtemp: the clean-up of a Ctrl-C or a
    SIGTERM that comes just after the file is created, before mkstemp has returned its
    name, knows what to remove.
    """
    return parent / f"{_partial_prefix(target)}{os.urandom(6).hex()}{suffix}"


def _remove(path: Path) -> None:
    """Remove a partial file or folder, if there; a Ctrl-C or SIGTERM that comes during the
    removal is raised once it is done, so half a partial (maybe with secrets) never stays."""

    def remove() -> None:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()

    to_the_end(remove)


def remove_abandoned_partials(folder: Path) -> list[Path]:
    """Delete the partial files of writes into folder whose process died (they may hold secrets).

    Only this host's, and only when their process is gone: a write still running
    (here or on another machine sharing the folder) keeps its file. An old export
    folder whose replacement never took its place is put back instead. Each is logged.
    """
    removed = []
    host = socket.gethostname()
    for path in folder.glob(f"*{_PARTIAL}*"):
        match = _PARTIAL_NAME.search(path.name)
        if match is None or match["host"] != host or _running(int(match["pid"])):
            continue
        if match["old"] and _put_back(path, folder / path.name[: match.start()]):
            continue
        _remove(path)
        log.warning("removed %s: a partial file left by an interrupted run", path)
        removed.append(path)
    return removed


def _put_back(old: Path, target: Path) -> bool:
    """Rename the folder a dead run was replacing back to target, if nothing took its place."""
    if target.exists() or target.is_symlink():
        return False
    try:
        os.rename(old, target)
    except OSError:
        return False
    log.warning("restored %s: the run replacing it was interrupted", target)
    return True


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _umask() -> int:
    """The process umask, read without setting it: a worker thread may be creating a file.

    Linux says it in /proc/self/status; elsewhere, the umask as it was at import.
    """
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in _PROC_STATUS.read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return _UMASK_AT_IMPORT


def _umask_by_setting() -> int:
    # os.umask can only be read by setting it, so it is set back at once; at import, before
    # any worker thread, a file created in between cannot get the wrong mode.
    current = os.umask(0o022)
    os.umask(current)
    return current


_PROC_STATUS = Path("/proc/self/status")
_UMASK_AT_IMPORT = _umask_by_setting()


def check_writable(label: str, path: Path) -> None:
    """Refuse, before any work, an output path (--report, --errors, --journal) that cannot be
    written: its folder missing or refusing new files, or a read-only file."""
    if not path.parent.exists():
        raise InputError(f"cannot write {label}: its folder does not exist", file=str(path))
    if path.is_dir() and label != "--errors":
        raise InputError(f"cannot write {label}: it is a folder", file=str(path))
    if path.exists() and not path.is_dir() and not os.access(path, os.W_OK):
        raise InputError(f"cannot write {label}: the file is not writable", file=str(path))
    folder = path if path.is_dir() else path.parent
    try:
        with tempfile.NamedTemporaryFile(prefix=".almmigrate-check-", dir=folder):
            pass
    except OSError as error:
        raise InputError(
            f"cannot write {label}: its folder refuses new files ({error.strerror})",
            file=str(path),
        ) from None
