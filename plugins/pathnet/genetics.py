"""PathNet's genetic operators (Fernando et al. 2017), on a whole population at once.

A genotype is an L x N matrix of module indices: the N modules path p uses in each of the L layers
(a module may appear twice in a layer; its output is then counted twice, as in the paper). The
population is one int64 tensor ``[P, L, N]``, the layout :func:`emokit.kernels.population_forward`
takes.

The supervised GA is the binary tournament: two random genotypes are trained and scored, the
winner's genotype overwrites the loser's, and the copy is mutated: each index, with probability
1/(N*L), is moved by an integer drawn uniformly from [-2, 2] and clipped to [0, M-1] (the paper's
first author clipped, public re-implementations disagree; clipping keeps the neighbourhood
structure that the +-2 step is meant to exploit). Here all P/2 tournaments of a generation are
played at once on one random pairing of the population.

Every random draw comes from the ``torch.Generator`` passed in, so a seed reproduces the search.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: the largest step a mutation moves an index (Fernando et al.: an integer in [-2, 2])
MUTATION_STEP = 2


def random_genotypes(
    population: int, layers: int, active: int, modules: int, generator: torch.Generator
) -> torch.Tensor:
    """``population`` genotypes drawn uniformly: int64 ``[population, layers, active]`` in [0, modules)."""
    if min(population, layers, active, modules) < 1:
        raise ValueError(
            f"population, layers, active and modules must be at least 1, got "
            f"{population}, {layers}, {active}, {modules}"
        )
    return torch.randint(0, modules, (population, layers, active), generator=generator)


def mutation_rate(genotypes: torch.Tensor) -> float:
    """The per-index mutation probability of the paper, 1 / (N * L)."""
    _, layers, active = genotypes.shape
    return 1.0 / (layers * active)


def mutate(
    genotypes: torch.Tensor,
    modules: int,
    generator: torch.Generator,
    rate: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mutated copies of ``genotypes`` ``[..., L, N]`` and the mask of indices that were drawn.

    Each index is drawn with probability ``rate`` (default 1/(N*L)); a drawn index moves by an
    integer uniform in [-2, 2] (0 included, as the paper words it) and is clipped to [0, M-1].

    Returns:
        ``(mutated, drawn)``: a new tensor (the input is left as it is) and a bool tensor of the
        same shape, True where an index was drawn for mutation.
    """
    if genotypes.dim() < 2:
        raise ValueError(f"genotypes must be [..., L, N], got shape {list(genotypes.shape)}")
    if rate is None:
        rate = 1.0 / (genotypes.shape[-1] * genotypes.shape[-2])
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"mutation rate must be in [0, 1], got {rate}")
    drawn = torch.rand(genotypes.shape, generator=generator) < rate
    steps = torch.randint(-MUTATION_STEP, MUTATION_STEP + 1, genotypes.shape, generator=generator)
    mutated = torch.where(drawn, (genotypes + steps).clamp(0, modules - 1), genotypes)
    return mutated, drawn


def random_pairs(population: int, generator: torch.Generator) -> torch.Tensor:
    """A random pairing of the population for its tournaments: int64 ``[population // 2, 2]``.

    With an odd population the one path left out sits this generation out.
    """
    if population < 2:
        raise ValueError(f"a tournament needs at least 2 paths, got a population of {population}")
    order = torch.randperm(population, generator=generator)
    return order[: population - population % 2].view(-1, 2)


@dataclass(frozen=True)
class TournamentResult:
    """What one generation's tournaments decided.

    Attributes:
        genotypes: the population after the tournaments ``[P, L, N]``.
        winners, losers: ``[P // 2]`` path indices of each tournament's winner and loser.
        mutated: ``[P // 2, L, N]`` bool, which of each loser's indices were drawn for mutation.
    """

    genotypes: torch.Tensor
    winners: torch.Tensor
    losers: torch.Tensor
    mutated: torch.Tensor


def tournaments(
    genotypes: torch.Tensor,
    fitness: torch.Tensor,
    modules: int,
    generator: torch.Generator,
    *,
    tie_break: torch.Tensor | None = None,
    pairs: torch.Tensor | None = None,
    rate: float | None = None,
) -> TournamentResult:
    """Play every binary tournament of a generation at once.

    Args:
        genotypes: ``[P, L, N]`` the population that was trained and scored.
        fitness: ``[P]`` higher is better.
        modules: M, the modules per layer (mutations are clipped to [0, M-1]).
        generator: source of the pairing and the mutations.
        tie_break: ``[P]`` lower is better, consulted when fitness is equal (e.g. the loss);
            a remaining tie goes to the first path of the pair (the pairing is random).
        pairs: ``[P // 2, 2]`` the pairing (default: :func:`random_pairs`).
        rate: mutation probability per index (default 1/(N*L)).

    Returns:
        :class:`TournamentResult`; each loser's row holds a mutated copy of its winner's genotype,
        every other row is unchanged.
    """
    population = genotypes.shape[0]
    if fitness.shape != (population,):
        raise ValueError(f"fitness must have shape [{population}], got {list(fitness.shape)}")
    if pairs is None:
        pairs = random_pairs(population, generator)
    first, second = pairs[:, 0], pairs[:, 1]
    first_wins = fitness[first] > fitness[second]
    tied = fitness[first] == fitness[second]
    if tie_break is not None:
        first_wins |= tied & (tie_break[first] <= tie_break[second])
    else:
        first_wins |= tied
    winners = torch.where(first_wins, first, second)
    losers = torch.where(first_wins, second, first)
    children, drawn = mutate(genotypes[winners], modules, generator, rate)
    updated = genotypes.clone()
    updated[losers] = children
    return TournamentResult(updated, winners, losers, drawn)
