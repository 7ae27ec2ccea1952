"""Memory under compressed traffic.

A brotli encoder mallocs its buffers per answer, each above glibc's initial 128 KB mmap
threshold. glibc raises the threshold to the size of any mmapped chunk freed, so after the first
answer they all came from the heap and stayed resident (86 -> 210 MB). app.http.plumbing.delivery
fixes the thresholds when imported; these check that a large buffer is still mmapped after a larger
one was freed, and that the window stays small."""

import subprocess
import sys
import textwrap

import pytest

from app.http.plumbing.delivery import COMPRESSION

PROBE = textwrap.dedent(
    """
    import ctypes, sys

    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    if sys.argv[1] == "app":
        import app.asgi  # noqa: F401

    libc.free(libc.malloc(8 << 20))  # an encoder's ring buffer at lgwin 22
    chunk = libc.malloc(1 << 20)
    # glibc's chunk header: the size word before the pointer, bit 2 = IS_MMAPPED
    print(bool(ctypes.c_size_t.from_address(chunk - 8).value & 2))
    """
)


def mmapped_after_a_larger_free(*args: str) -> bool:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split()[-1] == "True"


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or __import__("platform").libc_ver()[0] != "glibc",
    reason="glibc's malloc",
)
def test_large_buffers_stay_mmapped_once_the_app_is_imported():
    assert not mmapped_after_a_larger_free("bare")  # glibc's own behaviour: the cause
    assert mmapped_after_a_larger_free("app")


def test_brotli_window_fits_the_pages_not_4_mb():
    # 256 KB: the same bytes as lgwin 22 on every page we send, a 590 KB ring buffer, not 8.4 MB
    assert COMPRESSION.brotli_lgwin <= 18
