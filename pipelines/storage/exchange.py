"""Swap two directories in one atomic step, where the kernel can (Linux `renameat2`).

`RENAME_EXCHANGE` makes two existing paths trade places at once, so a reader sees either
the old folder or the new one at that path and never an empty moment. Python's `os` has no
binding for it; this calls the C library. Where it is missing (other kernels, an old glibc)
or the filesystem refuses it, `exchange` returns False and the caller falls back to two
plain renames.
"""

import ctypes
import errno
import os
from collections.abc import Callable

AT_FDCWD = -100
RENAME_EXCHANGE = 1 << 1
# What a kernel or filesystem without RENAME_EXCHANGE answers.
UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP}

# Test seam: the tests turn it off to exercise the two-rename fallback.
enabled = True


def _renameat2() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    function = getattr(libc, "renameat2", None)
    if function is None:
        return None
    # int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
    #               unsigned int flags)
    function.argtypes = [ctypes.c_int, ctypes.c_char_p] * 2 + [ctypes.c_uint]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


_RENAMEAT2 = _renameat2()


def exchange(first: str, second: str) -> bool:
    """Atomically swap the paths `first` and `second` (both must exist).

    True once swapped; False if this system cannot do it (nothing changed then); OSError
    for any other failure (a missing path, permissions).
    """
    if not enabled or _RENAMEAT2 is None:
        return False
    paths = os.fsencode(first), os.fsencode(second)
    result = _RENAMEAT2(AT_FDCWD, paths[0], AT_FDCWD, paths[1], RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), first, None, second)
