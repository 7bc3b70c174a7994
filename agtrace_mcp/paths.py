"""Project roots compared as normalised paths, so that `A/../shop` is never taken for a folder of `A`."""

from __future__ import annotations

import ntpath
import posixpath


def normalize_root(path: str) -> str:
    """A recorded or requested project root with `.`/`..` segments, doubled and trailing separators removed.

    Purely lexical (no filesystem access: the path may be from another machine). POSIX paths, Windows paths
    (with a drive letter or a UNC prefix) and anything else (a relative path) are each normalised in their own
    syntax; an empty value stays empty.
    """
    if not path:
        return path
    if path.startswith("/"):
        p = posixpath.normpath(path)
        return "/" + p.lstrip("/") if p.startswith("//") else p  # POSIX keeps `//`: one root is enough
    if len(path) >= 2 and (path[1] == ":" or path.startswith("\\\\")):
        return ntpath.normpath(path)
    return posixpath.normpath(path)


def subfolder_prefix(root: str) -> str:
    """What every path strictly inside `root` (normalised) starts with."""
    sep = "\\" if len(root) >= 2 and (root[1] == ":" or root.startswith("\\\\")) else "/"
    return root if root.endswith(sep) else root + sep
