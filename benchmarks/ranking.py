"""Rank agreement between a proxy's scores and the ground truth: Kendall's tau-b, Spearman's
rho (average ranks for ties) and top-k overlap. Small, exact, no SciPy needed."""

from __future__ import annotations

import numpy as np


def kendall_tau(a, b) -> float:
    """Kendall's tau-b: (concordant - discordant) / sqrt of the untied pairs in each."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2:
        return float("nan")
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    upper = np.triu_indices(len(a), k=1)
    da, db = da[upper], db[upper]
    untied_a, untied_b = np.count_nonzero(da), np.count_nonzero(db)
    if untied_a == 0 or untied_b == 0:
        return float("nan")
    return float((da * db).sum() / np.sqrt(untied_a * untied_b))


def average_ranks(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=float)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman_rho(a, b) -> float:
    ra, rb = average_ranks(a), average_ranks(b)
    if len(ra) < 2 or ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def top_overlap(proxy, truth, k: int = 5) -> int:
    """How many of the k best by `truth` are among the k best by `proxy`."""
    k = min(k, len(truth))
    best_truth = set(np.argsort(-np.asarray(truth, dtype=float), kind="stable")[:k].tolist())
    best_proxy = set(np.argsort(-np.asarray(proxy, dtype=float), kind="stable")[:k].tolist())
    return len(best_truth & best_proxy)
