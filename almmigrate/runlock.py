"""One writing run per target on this machine: a lock keyed by the target's URL.

Two imports of the same file into the same target, started a moment apart,
would each plan the same creates and each send them. :func:`target_lock` takes
an exclusive lock named after the target's API address in the user's state
directory (``platformdirs.user_state_dir("almmigrate")/locks``) for the whole
run; a second run refuses at once with :class:`TargetBusy`, or waits for the
first to finish when asked to. The lock is the operating system's (``flock``,
through filelock): a killed run releases it. It cannot see a run on another
machine.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock
import platformdirs

from almmigrate.errors import InputError
from almmigrate.secrets import redact_url

log = logging.getLogger(__name__)


class TargetBusy(InputError):
    """Another run on this machine is writing to the same target."""


def lock_dir() -> Path:
    """Where the per-target lock files live (the user's state directory)."""
    return Path(platformdirs.user_state_dir("almmigrate")) / "locks"


def lock_path(api_base: str) -> Path:
    """The lock file of one target, named by a digest of its API address (no secret in it)."""
    digest = hashlib.sha256(api_base.encode("utf-8")).hexdigest()[:24]
    return lock_dir() / f"target-{digest}.lock"


@contextmanager
def target_lock(api_base: str, *, wait: bool = False) -> Iterator[Path]:
    """Hold the target's lock for the block; yields the lock file's path.

    api_base: the target's normalised API address (SDEClient.base), so every
    spelling of one URL takes the same lock.
    wait: wait for another run to finish instead of refusing.
    Raises TargetBusy (exit 2, nothing written) when another run holds it and not wait.
    """
    path = lock_path(api_base)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(
            f"cannot create the folder of the run locks: {error.strerror}", file=str(path.parent)
        ) from None
    lock = filelock.FileLock(path, thread_local=False)
    shown = redact_url(api_base)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        if not wait:
            raise TargetBusy(
                f"another almmigrate run on this machine is writing to {shown} (lock {path}); "
                "wait for it to finish, or pass --wait-lock to wait for it. Two runs into one "
                "target would each create the same objects"
            ) from None
        log.warning("waiting for another almmigrate run writing to %s to finish", shown)
        lock.acquire()
    try:
        yield path
    finally:
        lock.release()
