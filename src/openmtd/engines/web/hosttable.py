"""A compact, read-only map from host names to small integers, for millions of domain indicators.

Why not a dict or a set: a Python ``set`` of a million ``str`` costs about 100 bytes per name
(the string object plus its table slot), a ``dict`` more. Indicator feeds reach millions of
names, and the benchmark's budget is 100 bytes of RSS per domain indicator all told. This table
keeps only each name's 64-bit keyed hash (``hash(str)``: SipHash, keyed per process, so nobody
outside the process can aim for a collision) in one ``array('q')`` and a value in a parallel
``array('i')`` — 12 bytes per slot at a load factor of at most 1/2, so about 25 bytes per name.

The cost of storing hashes instead of names: two different names that share a 64-bit hash would
be confused. At a million names the chance for one lookup is about 5e-14; the table is rebuilt
(with a new process's key) whenever its indicators change. The matched name itself is always
known to the caller (it is the name it asked about), so explanations stay exact.

Values are meta indexes (>= 0). A name that carries several values (two indicators on the same
domain) stores ``-2 - k`` pointing into ``multi[k]``, a tuple of values.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable

MISSING = -1


def _key(name: str) -> int:
    h = hash(name)
    return h if h != 0 else 1  # 0 marks an empty slot


class HostTable:
    """Immutable after build(); lookups with get()."""

    __slots__ = ("_keys", "_mask", "_multi", "_size", "_vals")

    def __init__(self) -> None:
        self._keys = array("q", bytes(8 * 8))
        self._vals = array("i", bytes(4 * 8))
        self._mask = 7
        self._multi: list[tuple[int, ...]] = []
        self._size = 0

    @classmethod
    def build(cls, items: Iterable[tuple[str, int]], *, expected: int = 0) -> HostTable:
        """Build from (name, value) pairs; `expected` presizes (it may be an estimate)."""
        pairs = items if isinstance(items, list) else list(items)
        table = cls()
        slots = 8
        while slots < 2 * max(len(pairs), expected, 1):
            slots *= 2
        table._keys = array("q", bytes(8 * slots))
        table._vals = array("i", bytes(4 * slots))
        table._mask = slots - 1
        for name, value in pairs:
            table._insert(name, value)
        return table

    def _insert(self, name: str, value: int) -> None:
        keys, vals, mask = self._keys, self._vals, self._mask
        k = _key(name)
        i = k & mask
        while True:
            slot = keys[i]
            if slot == 0:
                keys[i] = k
                vals[i] = value
                self._size += 1
                return
            if slot == k:
                old = vals[i]
                if old >= 0:
                    if old == value:
                        return
                    self._multi.append((old, value))
                    vals[i] = -2 - (len(self._multi) - 1)
                else:
                    held = self._multi[-2 - old]
                    if value not in held:
                        self._multi[-2 - old] = (*held, value)
                return
            i = (i + 1) & mask

    def __len__(self) -> int:
        return self._size

    @property
    def keys(self) -> array[int]:
        """The slots' hashes (0: empty), for callers that inline the probe loop of get()."""
        return self._keys

    @property
    def mask(self) -> int:
        return self._mask

    def value_at(self, slot: int) -> int:
        return self._vals[slot]

    @property
    def nbytes(self) -> int:
        return self._keys.itemsize * len(self._keys) + self._vals.itemsize * len(self._vals)

    def get(self, name: str) -> int:
        """MISSING, a value (>= 0), or a multi marker (<= -2) to pass to values()."""
        keys = self._keys
        k = hash(name) or 1
        mask = self._mask
        i = k & mask
        while True:
            slot = keys[i]
            if slot == k:
                return self._vals[i]
            if slot == 0:
                return MISSING
            i = (i + 1) & mask

    def values(self, found: int) -> tuple[int, ...]:
        """The values behind a get() result."""
        if found >= 0:
            return (found,)
        if found == MISSING:
            return ()
        return self._multi[-2 - found]
