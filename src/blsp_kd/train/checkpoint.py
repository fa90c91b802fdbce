"""Checkpoint folders written atomically: into a temporary sibling, then renamed. A process killed while saving
leaves a `.tmp-*` folder that nothing reads (and the next save removes), never a half-written checkpoint."""

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from blsp_kd.store import as_if_created_plainly


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
