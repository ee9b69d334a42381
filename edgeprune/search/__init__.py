"""RL pruning search with measured latency in the reward (docs/design.md, "The search loop").

    loop.py         Search: propose, evaluate, record, learn; start / resume; results
    rounds.py       candidates proposed together (--round-size); replaying them on resume
    executor.py     who evaluates a round: this process, or a Ray cluster (cluster/)
    scheduler.py    a round's accuracy and latency tasks onto workers and devices
    environment.py  SearchEnvironment: spec -> accuracy proxy, measured latency, GFLOPs, params
    proxy.py        accuracy proxies (bn-recal, finetune), a registry
    reward.py       RewardConfig, reward() (soft / hard), the FLOPs variant
    target.py       Target (latency or speedup), reachability check
    settings.py     SearchSettings: the run's config.yaml
    records.py      candidates.jsonl (append, fsync, torn-line tolerant)
    results.py      Pareto front, best candidate
    report.py       report.md and its plots
    agents/         SearchAgent contract and registry; baselines (uniform, random)
"""
