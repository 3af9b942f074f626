"""numba on demand: kernels that compile on their first compiled call, not at import.

Importing numba loads LLVM (~70 MB resident, a few tenths of a second) and pulls in scipy.
A year-long study wants its kernels compiled; the live agent's one-step decisions (a
day's horizon of 5-minute intervals) do not, and on a Pi that memory is most of the
budget.  So a module declares its kernels with :func:`kernel`, which leaves them plain
Python functions until :meth:`Kernel.compiled` is asked for::

    @kernel
    def total(x):
        s = 0.0
        for v in x:
            s += v
        return s

    total(x)  # interpreted: numba is not loaded
    total.compiled()(x)  # njit(cache=True): compiled once, cached on disk

A kernel that calls another kernel calls its compiled form when compiled, and its
interpreted form when interpreted; both run the same source, so they give the same
numbers (tested for the dispatch kernels).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any


class Kernel:
    """A numba kernel, compiled on demand.

    Calling it runs the plain Python function (no numba); :meth:`compiled` returns the
    ``numba.njit(cache=True)`` dispatcher, built on its first call.
    """

    def __init__(self, func: Callable[..., Any]) -> None:
        self.py_func = func
        self._dispatcher: Any = None
        functools.update_wrapper(self, func)

    def __call__(self, *args: Any) -> Any:
        return self.py_func(*args)

    def compiled(self) -> Callable[..., Any]:
        """The compiled kernel (numba loads here, on the first compiled call of any kernel)."""
        if self._dispatcher is None:
            # numba (LLVM, scipy) is slow to load and large in memory: only a compiled run
            # loads it, never an import.
            from numba import njit

            func = self.py_func
            # The kernels this one calls, by name, in their compiled form: numba resolves a
            # global name at compile time and cannot call a plain Python object.
            calls = {
                name: value.compiled()
                for name, value in func.__globals__.items()
                if isinstance(value, Kernel) and name in func.__code__.co_names
            }
            if calls:
                func = types.FunctionType(
                    func.__code__,
                    {**func.__globals__, **calls},
                    func.__name__,
                    func.__defaults__,
                    func.__closure__,
                )
                func.__qualname__ = self.py_func.__qualname__
                func.__module__ = self.py_func.__module__
            self._dispatcher = njit(cache=True)(func)
        return self._dispatcher


def kernel(func: Callable[..., Any]) -> Kernel:
    """Declare ``func`` a numba kernel compiled on demand (see :class:`Kernel`)."""
    return Kernel(func)
