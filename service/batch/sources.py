"""Where batch items come from: directories, globs, list files and archives (zip, tar, tar.gz, tar.zst).

Archive members are streamed out one at a time into a private temporary file, never extracted
wholesale. Absolute paths, ``..``, links, devices and FIFOs are refused, and member size, total size
and the compression ratio are capped while streaming (archive bombs), each as an item whose error
says why, so the batch goes on.

Nothing is passed over in silence: an input that is not processed is an item with ``skipped`` set to
a code and a reason (`SKIP_REASONS`): a symbolic link (followed only with ``follow_symlinks``, and only
when it stays inside the folder given), a file that is not a video, or the same content as an earlier
item of the batch.
"""

from __future__ import annotations

import glob
import hashlib
import os
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from pipelines.videofiles import VIDEO_EXTENSIONS

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst")
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps for archive members (bytes) and the decompression ratio."""

    member_bytes: int = 8 * 1024**3
    total_bytes: int = 64 * 1024**3
    ratio: float = 100.0
    ratio_floor_bytes: int = 16 * 1024**2  # small members may compress well legitimately


SKIP_REASONS = {
    "symlink": "a symbolic link (--follow-symlinks follows links that stay inside the folder given)",
    "symlink_outside": "a symbolic link to a place outside the folder given (never followed)",
    "not_a_video": "not a video",
    "duplicate": "the same content as an earlier input of this batch",
}


@dataclass
class Item:
    """One input. ``path`` is readable while the item is open; ``error`` marks a refused member (code, message);
    ``skipped`` an input left out on purpose (code of `SKIP_REASONS`, message)."""

    source: str
    path: Path | None = None
    sha256: str | None = None
    error: tuple[str, str] | None = None
    temporary: bool = False
    skipped: tuple[str, str] | None = None

    def release(self) -> None:
        if self.temporary and self.path is not None:
            self.path.unlink(missing_ok=True)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def looks_like_video(path: Path) -> bool:
    """A video extension, or content that probes as a video (directories hold other files too).

    The probe runs in a limited child process: a folder may hold anything.
    """
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return True
    from pipelines.decoding import probe_isolated
    from pipelines.errors import VidgateError

    try:
        probe_isolated(path, timeout_s=30)
    except VidgateError:
        return False
    return True


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


_NOT_A_VIDEO = "no video extension, and it does not probe as one"


def _skip(source: str, code: str, detail: str = "") -> Item:
    return Item(source=source, skipped=(code, SKIP_REASONS[code] + (f": {detail}" if detail else "")))


def expand(sources: list[str], limits: ArchiveLimits | None = None, *, follow_symlinks: bool = False) -> Iterator[Item]:
    """Items of every source, in order; archive members are materialised lazily, one at a time.

    Every input found is an item, processed or ``skipped`` with its reason; a file whose content an earlier
    item had is skipped as a ``duplicate`` naming that item.
    """
    seen: dict[str, str] = {}  # content hash -> the first source with it
    for item in _expand(sources, limits or ArchiveLimits(), follow_symlinks):
        if item.sha256 is not None and item.error is None and item.skipped is None:
            first = seen.setdefault(item.sha256, item.source)
            if first != item.source:
                item.release()
                item = _skip(item.source, "duplicate", first)
        yield item


def _walk(folder: Path, follow_symlinks: bool) -> Iterator[Item]:
    """Every file under ``folder``: a video as an item to run, anything else as a skipped item."""
    top = folder.resolve()
    visited = {top}
    for root, dirs, names in os.walk(folder, followlinks=follow_symlinks):
        kept = []
        for name in sorted(dirs):
            sub = Path(root) / name
            if not sub.is_symlink():
                kept.append(name)
            elif not follow_symlinks:
                yield _skip(str(sub), "symlink")
            elif not sub.resolve().is_relative_to(top):
                yield _skip(str(sub), "symlink_outside", str(sub.resolve()))
            elif sub.resolve() not in visited:  # a link back up the tree is walked once
                visited.add(sub.resolve())
                kept.append(name)
        dirs[:] = kept
        for name in sorted(names):
            file = Path(root) / name
            if file.is_symlink():
                if not follow_symlinks:
                    yield _skip(str(file), "symlink")
                    continue
                if not file.resolve().is_relative_to(top):
                    yield _skip(str(file), "symlink_outside", str(file.resolve()))
                    continue
            if not file.is_file():
                continue  # a dangling link, a FIFO or a socket: gone or not a file, named by os.walk only
            if looks_like_video(file):
                yield _local(file)
            else:
                yield _skip(str(file), "not_a_video", _NOT_A_VIDEO)


def _expand(sources: list[str], limits: ArchiveLimits, follow_symlinks: bool) -> Iterator[Item]:
    for source in sources:
        path = Path(source)
        if path.is_dir():
            yield from _walk(path, follow_symlinks)
        elif is_archive(path):
            yield from _archive(path, limits)
        elif path.is_file() and path.suffix.lower() in {".txt", ".list", ".lst"}:
            for line in path.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    listed = Path(line) if Path(line).is_absolute() else path.parent / line
                    yield _local(listed, display=line)
        elif path.exists():
            yield _local(path)
        elif glob.has_magic(source):
            for match in sorted(glob.glob(source, recursive=True)):
                if not Path(match).is_file():
                    continue  # a folder the pattern matched
                if looks_like_video(Path(match)):
                    yield _local(Path(match))
                else:
                    yield _skip(match, "not_a_video", _NOT_A_VIDEO)
        else:
            yield Item(source=source, error=("file_missing", f"{source}: no such file, directory or glob match"))


def _local(path: Path, display: str | None = None) -> Item:
    if not path.exists():
        return Item(source=display or str(path), error=("file_missing", "no such file"))
    if not path.is_file():
        return Item(source=display or str(path), error=("not_a_file", "not a regular file"))
    return Item(source=display or str(path), path=path, sha256=file_sha256(path))


def _unsafe_name(name: str) -> str | None:
    if not name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "path escapes the archive ('..')"
    return None


def _refusal(name: str, *, link: bool, special: bool, size: int, limits: ArchiveLimits) -> tuple[str, str] | None:
    """Why an archive member is refused before a byte of it is read, or None."""
    if link:
        return "unsafe_member", "link refused"
    if special:
        return "unsafe_member", "device, FIFO or special file refused"
    reason = _unsafe_name(name)
    if reason:
        return "unsafe_member", reason
    if _wanted(name) and size > limits.member_bytes:
        return "member_too_large", f"declares {size} bytes"
    return None


def _copy_capped(src: IO[bytes], member: str, limits: ArchiveLimits, compressed: int | None, budget: list[int]) -> Item:
    """Stream one member to a private temporary file, enforcing the caps while bytes arrive."""
    fd, name = tempfile.mkstemp(prefix="vidgate-member-")
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := src.read(CHUNK):
                size += len(chunk)
                budget[0] += len(chunk)
                if size > limits.member_bytes:
                    raise _Refused("member_too_large", f"member larger than {limits.member_bytes} bytes")
                if budget[0] > limits.total_bytes:
                    raise _Refused("archive_too_large", f"archive expands beyond {limits.total_bytes} bytes")
                if compressed and size > limits.ratio_floor_bytes and size / compressed > limits.ratio:
                    raise _Refused("archive_bomb", f"compression ratio above {limits.ratio:g}:1")
                digest.update(chunk)
                out.write(chunk)
    except _Refused as exc:
        os.unlink(name)
        return Item(source=member, error=(exc.code, exc.message))
    except BaseException:
        os.unlink(name)
        raise
    return Item(source=member, path=Path(name), sha256=digest.hexdigest(), temporary=True)


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _wanted(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in VIDEO_EXTENSIONS


def _archive(path: Path, limits: ArchiveLimits) -> Iterator[Item]:
    budget = [0]
    try:
        if path.name.lower().endswith(".zip"):
            yield from _zip(path, limits, budget)
        else:
            yield from _tar(path, limits, budget)
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        yield Item(source=str(path), error=("bad_archive", f"cannot read the archive: {exc}"))


def _zip(path: Path, limits: ArchiveLimits, budget: list[int]) -> Iterator[Item]:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            display = f"{path}!{info.filename}"
            link = stat.S_ISLNK(info.external_attr >> 16)
            refused = _refusal(info.filename, link=link, special=False, size=info.file_size, limits=limits)
            if refused:
                yield Item(source=display, error=refused)
                continue
            if not _wanted(info.filename):
                yield _skip(display, "not_a_video", "no video extension (archive members are taken by name)")
                continue
            with archive.open(info) as src:
                item = _copy_capped(src, display, limits, max(1, info.compress_size), budget)
            yield item


def _tar(path: Path, limits: ArchiveLimits, budget: list[int]) -> Iterator[Item]:
    raw = path.open("rb")
    try:
        stream: IO[bytes] = raw
        if path.name.lower().endswith((".zst", ".tzst")):
            import zstandard

            stream = zstandard.ZstdDecompressor().stream_reader(raw)
        gzipped = path.name.lower().endswith((".gz", ".tgz"))
        with tarfile.open(fileobj=stream, mode="r|gz" if gzipped else "r|") as archive:
            for member in archive:
                if member.isdir():
                    continue
                display = f"{path}!{member.name}"
                link = member.issym() or member.islnk()
                special = not link and not member.isfile()
                refused = _refusal(member.name, link=link, special=special, size=member.size, limits=limits)
                if refused:
                    yield Item(source=display, error=refused)
                    continue
                if not _wanted(member.name):
                    yield _skip(display, "not_a_video", "no video extension (archive members are taken by name)")
                    continue
                src = archive.extractfile(member)
                if src is None:
                    continue
                # The whole archive's compressed size bounds the ratio of any one member.
                yield _copy_capped(src, display, limits, max(1, path.stat().st_size), budget)
    finally:
        raw.close()
