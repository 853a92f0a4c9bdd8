"""Digit grammars and their exact accuracy ceilings (docs/ssmnist.md#the-ceilings).

A grammar is a list of subsequences of labels. A stream concatenates subsequences; when one ends,
the next is drawn uniformly at random among all of them (with replacement). The hidden state is
(subsequence, position); the label of the hidden state is what is observed.

The stationary distribution of the hidden chain is uniform over all (subsequence, position)
pairs, whatever the lengths: each subsequence's first position receives (1/S) of the total mass
leaving last positions, so every subsequence carries equal mass per position.
"""
from __future__ import annotations

import functools
import re
from fractions import Fraction

PAGI9 = [
    [2, 4, 0, 7, 8, 1, 6, 1, 8],
    [2, 7, 4, 9, 5, 9, 3, 1, 0],
    [5, 7, 3, 4, 1, 3, 1, 6, 4],
    [1, 3, 7, 5, 2, 5, 5, 3, 4],
    [2, 9, 1, 9, 2, 8, 3, 2, 7],
    [1, 2, 6, 4, 8, 3, 5, 0, 3],
    [3, 8, 0, 5, 6, 4, 1, 3, 9],
    [4, 7, 5, 3, 7, 6, 7, 2, 4],
]
GRAMMARS: dict[str, list[list[int]]] = {
    "pagi9": PAGI9,  # the authors' 8 x 9 grammar (Numenta PAGI9 = Cerenaut large_grammar.json)
    "cycle3": [[0, 1, 2]],  # deterministic: ceiling 1
    "fork": [[0, 1], [0, 2]],  # hand-checkable: ceiling 3/4
}

Grammar = list[list[int]]
State = tuple[int, int]  # (subsequence, position)
MAX_BELIEFS = 100_000


def validate_grammar(grammar: Grammar, n_classes: int = 10) -> Grammar:
    if not grammar:
        raise ValueError("grammar is empty: give at least one subsequence")
    for i, sub in enumerate(grammar):
        if not sub:
            raise ValueError(f"grammar subsequence {i} is empty")
        for label in sub:
            if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < n_classes:
                raise ValueError(f"grammar subsequence {i} ({sub}): label {label!r} is not an int in "
                                 f"0..{n_classes - 1}")
    return [list(s) for s in grammar]


def parse_grammar(spec: str | Grammar, n_classes: int = 10) -> Grammar:
    """A name in ``GRAMMARS``, a string such as ``"2 4 0 7; 1 3 5"`` or a list of lists."""
    if isinstance(spec, str):
        if spec in GRAMMARS:
            return [list(s) for s in GRAMMARS[spec]]
        grammar = []
        for part in re.split(r"[;|]", spec):
            tokens = [t for t in re.split(r"[\s,]+", part.strip()) if t]
            for token in tokens:
                if not token.isdigit():
                    raise ValueError(f"grammar {spec!r}: token {token!r} is not a label; use a name "
                                     f"({', '.join(GRAMMARS)}) or digits like '2 4 0; 1 3 5'")
            grammar.append([int(t) for t in tokens])
        return validate_grammar(grammar, n_classes)
    return validate_grammar(spec, n_classes)


def _states(grammar: Grammar) -> list[State]:
    return [(s, p) for s, sub in enumerate(grammar) for p in range(len(sub))]


def _successors(grammar: Grammar, state: State) -> list[tuple[State, Fraction]]:
    s, p = state
    if p + 1 < len(grammar[s]):
        return [((s, p + 1), Fraction(1))]
    share = Fraction(1, len(grammar))
    return [((t, 0), share) for t in range(len(grammar))]


def order_k_accuracy(grammar: Grammar, k: int) -> Fraction:
    """Best long-run accuracy of a predictor that sees only the last ``k`` labels.

    Forward dynamic programme over (context, hidden state) from the stationary distribution;
    the accuracy is sum over contexts of max over next labels of P(context, next).
    """
    states = _states(grammar)
    table: dict[tuple[tuple[int, ...], State], Fraction] = {
        ((grammar[s][p],) if k else (), (s, p)): Fraction(1, len(states)) for s, p in states}
    for _ in range(max(k - 1, 0)):
        grown: dict[tuple[tuple[int, ...], State], Fraction] = {}
        for (context, state), prob in table.items():
            for nxt, q in _successors(grammar, state):
                key = (context + (grammar[nxt[0]][nxt[1]],), nxt)
                grown[key] = grown.get(key, Fraction(0)) + prob * q
        table = grown
    joint: dict[tuple[int, ...], dict[int, Fraction]] = {}
    for (context, state), prob in table.items():
        for nxt, q in _successors(grammar, state):
            row = joint.setdefault(context, {})
            label = grammar[nxt[0]][nxt[1]]
            row[label] = row.get(label, Fraction(0)) + prob * q
    return sum((max(row.values()) for row in joint.values()), Fraction(0))


# -- full history: the belief-state chain ------------------------------------------------------
Belief = tuple[tuple[State, Fraction], ...]  # sorted (state, posterior) pairs


def _predict(grammar: Grammar, belief: Belief) -> dict[int, dict[State, Fraction]]:
    """For each next label, the unnormalised posterior over next states."""
    out: dict[int, dict[State, Fraction]] = {}
    for state, prob in belief:
        for nxt, q in _successors(grammar, state):
            row = out.setdefault(grammar[nxt[0]][nxt[1]], {})
            row[nxt] = row.get(nxt, Fraction(0)) + prob * q
    return out


def _belief_chain(grammar: Grammar):
    """Reachable beliefs (after each observation) with their transitions and accuracies."""
    states = _states(grammar)
    first: dict[int, dict[State, Fraction]] = {}
    for s, p in states:  # first observation from the stationary prior
        first.setdefault(grammar[s][p], {})[(s, p)] = Fraction(1, len(states))

    def normalise(row: dict[State, Fraction]) -> tuple[Belief, Fraction]:
        total = sum(row.values())
        return tuple(sorted((st, pr / total) for st, pr in row.items())), total

    start = {normalise(row)[0]: total for row in first.values() for total in [sum(row.values())]}
    index: dict[Belief, int] = {}
    edges: list[list[tuple[int, Fraction]]] = []
    accuracy: list[Fraction] = []
    frontier = list(start)
    for b in frontier:
        index.setdefault(b, len(index))
    while frontier:
        belief = frontier.pop()
        predicted = _predict(grammar, belief)
        out = []
        for row in predicted.values():
            nxt, prob = normalise(row)
            if nxt not in index:
                if len(index) >= MAX_BELIEFS:
                    raise ValueError(f"grammar has more than {MAX_BELIEFS} belief states; its exact "
                                     f"ceiling is too expensive to compute")
                index[nxt] = len(index)
                frontier.append(nxt)
            out.append((index[nxt], prob))
        i = index[belief]
        while len(edges) <= i:
            edges.append([])
            accuracy.append(Fraction(0))
        edges[i] = out
        accuracy[i] = max(sum(r.values()) for r in predicted.values())
    initial = {index[b]: p for b, p in start.items()}
    return edges, accuracy, initial


def _solve(matrix: list[list[Fraction]], rhs: list[Fraction]) -> list[Fraction]:
    """Exact Gaussian elimination (small systems only)."""
    n = len(rhs)
    a = [row[:] + [rhs[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if a[r][col] != 0)
        a[col], a[pivot] = a[pivot], a[col]
        inv = 1 / a[col][col]
        a[col] = [v * inv for v in a[col]]
        for r in range(n):
            if r != col and a[r][col] != 0:
                f = a[r][col]
                a[r] = [v - f * w for v, w in zip(a[r], a[col])]
    return [a[i][n] for i in range(n)]


def _closed_classes(edges: list[list[tuple[int, Fraction]]]) -> list[list[int]]:
    """Closed communicating classes: sets of beliefs the chain never leaves."""
    reach = []
    for i in range(len(edges)):
        seen, todo = {i}, [i]
        while todo:
            for j, _ in edges[todo.pop()]:
                if j not in seen:
                    seen.add(j)
                    todo.append(j)
        reach.append(seen)
    classes = []
    for i in range(len(edges)):
        if all(i in reach[j] for j in reach[i]) and not any(i in c for c in classes):
            classes.append(sorted(reach[i]))
    return classes


def optimal_accuracy(grammar: Grammar) -> Fraction:
    """Long-run accuracy of the Bayes-optimal predictor that knows the whole label history.

    The posterior over hidden states (the belief) evolves as a finite Markov chain. Its long-run
    behaviour is that of its closed classes: within each, solve the stationary equations exactly;
    weigh the classes by the probability of being absorbed into them from the first belief.
    """
    edges, accuracy, initial = _belief_chain(grammar)
    classes = _closed_classes(edges)
    absorbed = _absorption(edges, classes, initial)
    total = Fraction(0)
    for cls, weight in zip(classes, absorbed):
        pos = {b: i for i, b in enumerate(cls)}
        n = len(cls)
        # mu (P - I) = 0 with sum(mu) = 1: replace the last equation by the normalisation
        matrix = [[Fraction(0)] * n for _ in range(n)]
        for b in cls:
            for j, p in edges[b]:
                matrix[pos[j]][pos[b]] += p
        for i in range(n):
            matrix[i][i] -= 1
        matrix[-1] = [Fraction(1)] * n
        mu = _solve(matrix, [Fraction(0)] * (n - 1) + [Fraction(1)])
        total += weight * sum(m * accuracy[b] for m, b in zip(mu, cls))
    return total


def _absorption(edges, classes, initial) -> list[Fraction]:
    if len(classes) == 1:
        return [Fraction(1)]
    closed = {b for c in classes for b in c}
    transient = [b for b in range(len(edges)) if b not in closed]
    pos = {b: i for i, b in enumerate(transient)}
    weights = []
    for cls in classes:
        members = set(cls)
        # x_b = sum_j P(b, j) x_j over transient j + P(b -> class)
        matrix = [[Fraction(int(i == j)) for j in range(len(transient))] for i in range(len(transient))]
        rhs = [Fraction(0)] * len(transient)
        for b in transient:
            for j, p in edges[b]:
                if j in pos:
                    matrix[pos[b]][pos[j]] -= p
                elif j in members:
                    rhs[pos[b]] += p
        x = _solve(matrix, rhs) if transient else []
        weights.append(sum(p * (1 if b in members else (x[pos[b]] if b in pos else 0))
                           for b, p in initial.items()))
    return weights


@functools.lru_cache(maxsize=32)
def _ceilings(key: tuple[tuple[int, ...], ...], orders: tuple[int, ...]) -> dict[str, float]:
    grammar = [list(s) for s in key]
    out = {"bayes": float(optimal_accuracy(grammar))}
    out.update({f"order{k}": float(order_k_accuracy(grammar, k)) for k in orders})
    return out


def ceilings(grammar: Grammar, orders: tuple[int, ...] = (1, 2, 3, 4)) -> dict[str, float]:
    """{"bayes": full-history ceiling, "orderK": last-K-labels ceiling} as fractions of 1."""
    return dict(_ceilings(tuple(tuple(s) for s in grammar), tuple(orders)))
