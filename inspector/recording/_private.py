"""Private files in a folder no one else controls: how the recorder touches the disk.

Recordings hold whole conversations. Everything is created owner-only (files 0600, folders
0700) and *exclusively*: a folder with ``mkdir`` (never "exists already, fine"), a file with
``O_CREAT | O_EXCL | O_NOFOLLOW`` — so a name someone planted first (a symlink to a file outside,
a folder of theirs) is never written through, and two recorders never share a folder.

``record_dir_problem`` says why a recording folder must not be used: a symlink on its way that
another user owns (they choose where it points), a folder that others may write to without the
sticky bit (they could swap what we create), a folder that is another user's.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "atomic_write", "create_dir", "open_new", "record_dir_problem", "write_new"]

FILE_MODE = 0o600
DIR_MODE = 0o700
_NEW = os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def open_new(path: str | bytes, flags: int) -> int:
    """An ``opener`` for ``open()``: a new file, owner-only; an existing name (or symlink) is an error."""
    return os.open(path, (flags & ~os.O_TRUNC) | _NEW, FILE_MODE)


def write_new(path: Path, data: bytes) -> None:
    with open(path, "wb", opener=open_new) as f:
        f.write(data)


def atomic_write(path: Path, data: bytes) -> None:
    """``path`` replaced at once by a new file holding ``data`` (a symlink there is replaced, not followed)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        write_new(tmp, data)
    except FileExistsError:  # left by a write that failed: ours (the folder is ours alone)
        tmp.unlink()
        write_new(tmp, data)
    os.replace(tmp, path)


def create_dir(path: Path) -> None:
    """A new owner-only folder; ``FileExistsError`` when anything has that name already."""
    os.mkdir(path, DIR_MODE)


def _others_in_group(gid: int, me: int) -> bool:
    try:
        group = grp.getgrgid(gid)
        mine = pwd.getpwuid(me).pw_name
    except KeyError:
        return True  # an unknown group: it may have anyone in it
    return any(member != mine for member in group.gr_mem)


def _writable_by_others(st: os.stat_result, me: int, *, group: bool) -> str | None:
    """Why others may create, rename or remove entries in a folder (its group's other members too,
    with ``group``), or None when they may not."""
    if st.st_mode & stat.S_ISVTX:
        return None  # sticky: an entry is renamed or removed only by its owner
    if st.st_mode & stat.S_IWOTH:
        return "everyone may write to it"
    if group and st.st_mode & stat.S_IWGRP and st.st_gid != os.getgid() and _others_in_group(st.st_gid, me):
        return f"its group (gid {st.st_gid}) may write to it"
    return None


def record_dir_problem(root: Path) -> str | None:
    """Why ``root`` (existing or to be created) must not hold recordings, or None when it may.

    Each existing part of its path is looked at as it is (not resolved): a symlink must be ours
    (or root's), a folder everyone may write to must be sticky (``/tmp``); ``root`` itself, when it
    exists, must be a folder of ours that no one else may write to (a group of ours alone may)."""
    me = os.geteuid()
    path = Path(os.path.abspath(root))
    parts = [path, *path.parents][::-1]
    for part in parts:
        try:
            st = os.lstat(part)
        except FileNotFoundError:
            return None  # created by us from here on, 0700
        except OSError as e:
            return f"{part} cannot be looked at: {e.strerror or e}"
        if stat.S_ISLNK(st.st_mode):
            if st.st_uid not in (me, 0):
                return (f"{part} is a symlink owned by another user (uid {st.st_uid}), who chooses where the "
                        f"recordings would go")
            try:
                st = os.stat(part)
            except OSError as e:
                return f"{part} is a symlink to nowhere: {e.strerror or e}"
        if not stat.S_ISDIR(st.st_mode):
            return f"{part} is not a folder"
        if part == path and st.st_uid != me:
            return f"{part} belongs to another user (uid {st.st_uid})"
        if why := _writable_by_others(st, me, group=part == path):
            # Others could rename what comes next on the path and put their own in its place.
            return (f"{part} is writable by others ({why}, and it is not sticky): they could plant or "
                    f"swap what the recorder writes (chmod o-w,g-w {part}, or choose another folder)")
    return None
