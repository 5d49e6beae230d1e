"""The search methods by name: the one owner of the method-name vocabulary, and `make_search`.

Config readers, CLI choices and the explainers import `METHODS` (or `canonical_method`) from here.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

from auditor.errors import ArgumentError
from auditor.search.arguments import Bounds
from auditor.search.cma import CMAES
from auditor.search.momentum_es import MomentumES
from auditor.search.protocol import Search
from auditor.search.random import RandomSearch

STRATEGIES: dict[str, type[MomentumES] | type[CMAES] | type[RandomSearch]] = {
    "momentum_es": MomentumES,
    "cmaes": CMAES,
    "random": RandomSearch,
}
ALIASES = {"es": "momentum_es"}
METHODS = ("momentum_es", "es", "cmaes", "random")
"""Every accepted method name, aliases included, in the order messages list them."""


def canonical_method(method: str) -> str:
    """The method's own name ("es" -> "momentum_es"); ArgumentError for an unknown name."""
    if method not in METHODS:
        raise ArgumentError(f"unknown search method {method!r}; choose one of {', '.join(METHODS)}")
    return ALIASES.get(method, method)


@functools.cache
def _option_names(method: str) -> frozenset[str]:
    """A strategy's own keyword options, read from its signature once (inspect costs ~0.3 ms)."""
    return frozenset(inspect.signature(STRATEGIES[method]).parameters) - {
        "dim",
        "rng",
        "x0",
        "sigma",
        "bounds",
        "popsize",
    }


def make_search(
    method: str,
    dim: int,
    rng: np.random.Generator,
    *,
    popsize: int | None = None,
    x0: np.ndarray | None = None,
    sigma: float | None = None,
    bounds: Bounds | None = None,
    **options: object,
) -> Search:
    """Build a search by name: "momentum_es" (alias "es"), "cmaes" or "random".

    `popsize` is the number of rows asked per generation; for momentum ES it sets
    elites = popsize / children (after the initial population). `sigma` and `x0` mean the
    step size and the start point in every method; method-specific `options` go to the class
    (checked against its signature).
    """
    if not isinstance(rng, np.random.Generator):
        raise ArgumentError("rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(seed))")
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 1:
        raise ArgumentError(f"dim must be a positive integer, got {dim!r}")
    name = canonical_method(method)
    strategy = STRATEGIES[name]
    allowed = _option_names(name)
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ArgumentError(
            f"{method}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"
        )
    arguments: dict[str, object] = {"x0": x0, "bounds": bounds, **options}
    if sigma is not None:
        arguments["sigma"] = sigma
    if popsize is not None:
        if strategy is MomentumES:
            if "elites" in options:
                raise ArgumentError("momentum_es: give popsize or elites, not both")
            children = options.get("children", 2)
            if not isinstance(children, int) or popsize < children or popsize % children:
                raise ArgumentError(
                    f"momentum_es: popsize {popsize} must be a multiple of children ({children})"
                )
            arguments["elites"] = popsize // children
        else:
            arguments["popsize"] = popsize
    return strategy(int(dim), rng, **arguments)  # type: ignore[arg-type]
