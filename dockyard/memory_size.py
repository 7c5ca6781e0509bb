"""What an object held in a cache costs in memory, for caches bounded in bytes.

A cache bounded in entries is bounded in bytes only while its entries stay small; one
that counts the bytes of a body but keeps the parsed structure beside it holds several
times what it counts. ``deep_size`` is what caches charge an entry instead: the bytes
of every object reachable from it, each counted once, as ``sys.getsizeof`` reports them
(the allocator's rounding aside). Objects the entry shares with others, such as
interned strings, are counted too, so the figure errs high: a bound that charges it
holds.
"""

from __future__ import annotations

import sys
import types
from gc import get_referents
from typing import Final

#: Objects that belong to the program, not to a cached value: never counted or walked.
_PROGRAM: Final = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)
_ATOMS: Final = (str, bytes, int, float, bool, type(None))


def deep_size(value: object) -> int:
    """Bytes of ``value`` and of every object it refers to, each counted once.

    Walks containers, dataclass instances (with or without slots) and anything else the
    garbage collector can see into; classes, modules and functions are not counted.
    """
    seen: set[int] = set()
    total = 0
    stack = [value]
    while stack:
        obj = stack.pop()
        if isinstance(obj, _PROGRAM) or id(obj) in seen:
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            # The collector does not visit the keys of a dict whose keys are all strings.
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif not isinstance(obj, _ATOMS):
            stack.extend(get_referents(obj))
    return total
