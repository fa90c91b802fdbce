"""Checkpoint folders written atomically: into a temporary sibling, then renamed. A process killed while saving
leaves a `.tmp-*` folder that nothing reads (and the next save removes), never a half-written checkpoint. A run folder
is trained by one process at a time: `lock_run_folder`."""

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from blsp_kd.store import as_if_created_plainly


class RunFolderBusy(RuntimeError):
    """Another process is training into the same output folder."""


def lock_run_folder(directory: Path):
    """Hold `directory/.train-lock` for as long as the returned file stays open (the process's end, even by kill -9,
    releases it). A second run into the same folder would interleave its log lines and checkpoints with the first's:
    it is refused with the holder's pid."""
    handle = open(directory / ".train-lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise RunFolderBusy(f"{directory} is being trained by another process (pid {holder}); wait for it or stop it "
                            "(a stopped run resumes from its last checkpoint)") from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def save_atomically(directory: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp_dir)` fills a fresh folder; it then replaces `directory` (an existing one is swapped out)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    for stale in directory.parent.glob(f".tmp-{directory.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".tmp-{directory.name}-", dir=directory.parent))
    try:
        as_if_created_plainly(tmp_dir)  # mkdtemp makes it 0700
        write(tmp_dir)
        if directory.exists():  # rename the old one away first: os.replace cannot replace a non-empty folder
            old = Path(tempfile.mkdtemp(prefix=f".tmp-{directory.name}-old-", dir=directory.parent))
            os.replace(directory, old / "old")
            os.replace(tmp_dir, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp_dir, directory)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise


def checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints `step-NNNNNNN`, oldest first."""
    if not root.exists():
        return []
    return sorted(path for path in root.iterdir() if path.is_dir() and path.name.startswith("step-"))


def latest_checkpoint(root: Path) -> Path | None:
    found = checkpoints(root)
    return found[-1] if found else None


def prune_checkpoints(root: Path, keep_last: int) -> None:
    for path in checkpoints(root)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(path)
