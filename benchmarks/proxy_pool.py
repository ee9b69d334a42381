"""The candidate pool of benchmarks/proxy_fidelity.py: pruning specs spread over 1.5x-3x
measured speedups, from uniform ratios, the `random` agent's proposals and short `abcp` and
`gcn` searches (bn-recal proxy) aiming at 2x. Kept in --work/candidates.json once chosen."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SPEEDUPS = (1.5, 3.0)
SEARCH_BUDGET = 16
RANDOM_PROPOSALS = 40
# The pool only needs each candidate's speedup to about +-5% (to keep it inside 1.5x-3x and
# to place the 2x band); a short interleaved window keeps ~100 measurements to minutes.
POOL_PROTOCOL = {"max_seconds": 2.0, "target_rel_ci": 0.03, "max_remeasures": 0,
                 "drift_every": 0}


def _context(base_ckpt, base_ms: float, seed: int):
    from edgeprune.models.counting import count_gflops
    from edgeprune.prune import prune_space
    from edgeprune.search.agents.base import AgentContext

    cfg = base_ckpt.model.cfg
    return AgentContext(space=prune_space(cfg), budget=RANDOM_PROPOSALS, target_ms=base_ms / 2,
                        base_latency_ms=base_ms, base_accuracy=0.0,
                        base_gflops=count_gflops(cfg, base_ckpt.imgsz), seed=seed)


def _searched(args, agent: str, base, data, console) -> list:
    """The candidates of a short real search with `agent` (bn-recal proxy, 2x target)."""
    from edgeprune.search.loop import Search
    from edgeprune.search.proxy import ProxySettings
    from edgeprune.search.records import CandidateLog
    from edgeprune.search.settings import SearchSettings
    from edgeprune.search.target import Target

    run = args.work / f"search-{agent}"
    records = CandidateLog(run).read()
    if len(records) < SEARCH_BUDGET:
        if (run / "config.yaml").is_file():
            search = Search.resume(run, console=console)
        else:
            settings = SearchSettings(
                weights=str(base.weights), data=str(data.sim), target=Target(speedup=2.0),
                agent=agent, budget=SEARCH_BUDGET, val_images=args.val_images, seed=args.seed,
                protocol=dict(POOL_PROTOCOL),
                proxy_settings=ProxySettings(recal_batches=args.recal_batches, seed=args.seed))
            search = Search.start(settings, run, console=console)
        records = search.run().records
    return [r.spec for r in records]


def candidate_pool(args, base, data, console):
    """(candidates, the meter timing against the base, the 2x target as a latency ratio)."""
    from edgeprune.latency import resolve_device
    from edgeprune.latency.archhash import cfg_arch_hash
    from edgeprune.models import load_checkpoint
    from edgeprune.prune import PruneSpec, prune_space, pruned_cfg
    from edgeprune.search.agents.baselines import RandomAgent

    base_ckpt = load_checkpoint(base.weights)
    cfg = base_ckpt.model.cfg
    meter = resolve_device("cpu", cache=Path(args.work) / "latency.sqlite",
                           protocol=POOL_PROTOCOL, threads=getattr(args, "threads", None))
    meter.use_reference(cfg)
    path = Path(args.work) / "candidates.json"
    earlier: list[dict] = json.loads(path.read_text()) if path.is_file() else []
    if len(earlier) >= args.candidates:
        # a smaller --candidates takes the pool's first ones (chosen round-robin over the
        # sources, so still a mix)
        return earlier[:args.candidates], meter, 0.5
    space = prune_space(cfg)
    base_ms = meter.measure(cfg).median_ms
    sources: dict[str, list[PruneSpec]] = {
        "uniform": [space.normalize(PruneSpec.uniform(round(float(r), 3)))
                    for r in np.linspace(0.3, 0.9, 13)]}
    agent = RandomAgent(_context(base_ckpt, base_ms, args.seed))
    sources["random"] = [agent.propose(step) for step in range(RANDOM_PROPOSALS)]
    for name in ("abcp", "gcn"):
        sources[name] = _searched(args, name, base, data, console)
    low, high = 1 / SPEEDUPS[1], 1 / SPEEDUPS[0]
    by_source: dict[str, list[dict]] = {}
    seen: set[str] = set()
    with console.status("timing the candidate pool against the base..."):
        for source, specs in sources.items():
            for spec in specs:
                arch = cfg_arch_hash(pruned_cfg(cfg, spec))
                if arch in seen:
                    continue
                seen.add(arch)
                ratio = meter.measure(pruned_cfg(cfg, spec)).ratio
                if low <= ratio <= high:
                    by_source.setdefault(source, []).append(
                        {"spec": spec.to_dict(), "spec_hash": spec.hash, "ratio": ratio,
                         "source": source})
    # a run with more candidates than an earlier one keeps the earlier ones first, so their
    # finished fine-tunings count, and adds new ones round-robin as before
    chosen = list(earlier)
    known = {c["spec_hash"] for c in earlier}
    for pool in by_source.values():
        pool[:] = [c for c in pool if c["spec_hash"] not in known]
    while len(chosen) < args.candidates and any(by_source.values()):
        for pool in by_source.values():  # round-robin over the sources
            if pool and len(chosen) < args.candidates:
                chosen.append(pool.pop(0))
    path.write_text(json.dumps(chosen, indent=2))
    return chosen, meter, 0.5
