"""Topological order without recursion (a 10,000-long chain of nodes or vars is no problem)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def topological_order(keys: Iterable[K], uses: Callable[[K], Iterable[K]]) -> tuple[list[K], list[list[K]]]:
    """``keys``, each after the keys it ``uses``, and every cycle found (``[a, b, a]``), once each.

    A use of a key that is not among ``keys`` is ignored; the keys of a cycle are still ordered
    (each after its uses outside the cycle), so a caller may report the cycle and go on.
    """
    known = dict.fromkeys(keys)
    order: list[K] = []
    cycles: list[list[K]] = []
    state: dict[K, int] = {}  # 1: on the current path, 2: done
    for root in known:
        if root in state:
            continue
        state[root] = 1
        path, stack = [root], [iter(uses(root))]
        while stack:
            for ref in stack[-1]:
                if ref not in known or state.get(ref) == 2:
                    continue
                if state.get(ref) == 1:
                    cycle = path[path.index(ref) :] + [ref]
                    if not any(set(cycle) == set(c) for c in cycles):
                        cycles.append(cycle)
                    continue
                state[ref] = 1
                path.append(ref)
                stack.append(iter(uses(ref)))
                break
            else:
                stack.pop()
                done = path.pop()
                state[done] = 2
                order.append(done)
    return order, cycles
