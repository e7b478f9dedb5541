"""Which exceptions are the library telling the user what to fix, for the `cpt` console script.

The library reports bad input (data layout, sampling settings, checkpoints, CLIP paths) by raising
`ValueError`, `LookupError` (`KeyError`) or `OSError` (`FileNotFoundError`) subclasses from its own
code, with a message that says what was expected, what was found and what to do. During config
instantiation jsonargparse wraps such an error in its own `ValueError` (one per Union subtype it
tried); the original stays in the exception chain, and is found there. Errors of these types raised
inside other libraries (torch, transformers) are not the library's verdict and keep their traceback.
"""

from __future__ import annotations

from pathlib import Path

USER_ERROR_EXIT_CODE = 2  # as argparse / jsonargparse exit on a bad command line
USER_ERROR_TYPES = (ValueError, LookupError, OSError)
PACKAGE_DIR = Path(__file__).resolve().parent


def _raised_by_library(error: BaseException) -> bool:
    traceback = error.__traceback__
    if traceback is None:
        return False
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    return PACKAGE_DIR in Path(traceback.tb_frame.f_code.co_filename).resolve().parents


def library_error_in(error: BaseException) -> BaseException | None:
    """The outermost error of the library's own in `error`'s chain (`__cause__` / `__context__`), if any."""
    seen, current = set(), error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, USER_ERROR_TYPES) and _raised_by_library(current):
            return current
        current = current.__cause__ or current.__context__
    return None
