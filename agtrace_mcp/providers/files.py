"""Opening log files so that no file can stall a read or eat the memory (issue 16, point 2).

A log root is written by other programs, and anything can sit in it: a FIFO named `*.jsonl` (an `open` for
reading blocks until a writer comes), a symlink to `/dev/zero` (an endless read), to `~/.ssh/id_rsa` (a file
outside the agent's folder, whose lines `doctor` would print), a 300 MB line, a 290 KB `.zst` that expands to
8 GB. So:

- only regular files are read: opened non-blocking, checked with `fstat` before the first read;
- a symlink may only lead to a file under the agent's own root (`inside_roots`, checked at discovery);
- one line may cost at most MAX_LINE_BYTES (a longer one is skipped and counted), one JSON document at most
  MAX_DOC_BYTES, and a `.zst` stream stops after ZST_MAX_RATIO × its compressed size (at least
  ZST_MIN_BOUND) of output.
"""

from __future__ import annotations

import os
import stat
from typing import IO, Any

MB = 1 << 20


def _env_mb(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, "") or default)) * MB
    except ValueError:
        return default * MB


# Real lines are far smaller (the largest in the corpus, a pasted image, is 0.4 MB); the caps only stop
# hostile or broken files. Each can be raised with an environment variable.
MAX_LINE_BYTES = _env_mb("AGTRACE_MCP_MAX_LINE_MB", 64)
MAX_DOC_BYTES = _env_mb("AGTRACE_MCP_MAX_DOC_MB", 256)
ZST_MAX_RATIO = 100
ZST_MIN_BOUND = _env_mb("AGTRACE_MCP_MAX_ZST_MB", 1024)


class NotARegularFile(OSError):
    """A path that is a FIFO, socket, device or folder (or a link to one): never read."""


class TooLarge(OSError):
    """A JSON document larger than MAX_DOC_BYTES: not read."""


def open_regular(path: str) -> IO[bytes]:
    """Open `path` for reading, refusing anything but a regular file without blocking on it."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFile(f"{path} is not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], cap: int = MAX_DOC_BYTES) -> bytes:
    """The whole of a regular file of at most `cap` bytes (TooLarge otherwise)."""
    with open_regular(os.fspath(path)) as f:
        data = f.read(cap + 1)
    if len(data) > cap:
        raise TooLarge(f"{os.fspath(path)} is larger than {cap // MB} MB")
    return data


class BoundedReader:
    """A stream that ends after `limit` bytes (a decompression bomb stops there); `hit` says it did."""

    def __init__(self, raw: Any, limit: int) -> None:
        self.raw = raw
        self.left = limit
        self.hit = False

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            if self.raw.read(1):
                self.hit = True
            return b""
        want = self.left if n is None or n < 0 else min(n, self.left)
        data = self.raw.read(want)
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> BoundedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_log(path: str) -> IO[bytes] | BoundedReader:
    """A log file's bytes: a regular file, decompressed as a bounded stream when it is `.zst`."""
    fh = open_regular(path)
    if not path.endswith(".zst"):
        return fh
    import zstandard

    size = os.fstat(fh.fileno()).st_size
    reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True, closefd=True)
    return BoundedReader(reader, max(ZST_MIN_BOUND, size * ZST_MAX_RATIO))


class RootCheck:
    """Is a discovered path a regular file under one of its agent's roots (after following symlinks)?

    Real paths of folders are cached, so a refresh resolves each folder once, not each file.
    """

    def __init__(self) -> None:
        self._dirs: dict[str, str] = {}

    def _real_dir(self, d: str) -> str:
        # Built from the parent's real path, so each folder costs one lstat per refresh: os.path.realpath
        # would lstat every component of every folder again (most of a no-change refresh's time).
        r = self._dirs.get(d)
        if r is None:
            parent, name = os.path.split(d)
            if name in ("", ".", "..") or parent == d:
                r = os.path.realpath(d)
            else:
                try:
                    link = stat.S_ISLNK(os.lstat(d).st_mode)
                except OSError:
                    link = True  # let realpath say what it resolves to
                r = os.path.realpath(d) if link else os.path.join(self._real_dir(parent), name)
            self._dirs[d] = r
        return r

    def inside(self, path: str, roots: list[str], lst: os.stat_result) -> bool:
        """`lst` is the path's `lstat`; `roots` are its agent's roots."""
        if stat.S_ISLNK(lst.st_mode):
            real = os.path.realpath(path)
            try:
                if not stat.S_ISREG(os.stat(real).st_mode):
                    return False
            except OSError:
                return False
        elif stat.S_ISREG(lst.st_mode):
            d, name = os.path.split(path)
            real = os.path.join(self._real_dir(d), name)
        else:
            return False
        for root in roots:
            r = self._real_dir(root)
            if real == r or real.startswith(r.rstrip(os.sep) + os.sep):
                return True
        return False
