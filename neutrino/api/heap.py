"""Giving freed heap back to the operating system after a large answer.

Listing 10,000 ports builds some 30 MB of short-lived objects. Python frees them, but glibc's malloc
keeps the freed pages for reuse, in one arena per thread that ever held them, so the server's
resident memory settles near its largest answer times its busiest threads. ``malloc_trim(0)``
returns every whole free page of every arena; it takes a few milliseconds, so it runs after the
answer is sent, and only after large ones.
"""

from __future__ import annotations

import ctypes

LARGE_ANSWER = 1_000_000  # bytes of JSON; about 1,300 ports


def _find_malloc_trim():
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to trim this way
        return None


_malloc_trim = _find_malloc_trim()


def is_large(answer: bytes) -> bool:
    return _malloc_trim is not None and len(answer) > LARGE_ANSWER


def release_free_heap() -> None:
    if _malloc_trim is not None:
        _malloc_trim(0)
