"""Synthetic run tables drawn from known laws (for tests, examples and the fit-time benchmark)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def synthetic_runs(n_runs: int = 64, n_domains: int = 5, *, sizes=(2e7, 5e7, 1e8),
                   tokens=(1e9, 2e9, 4e9), noise: float = 0.003, seed: int = 0,
                   n_targets: int = 2) -> tuple[pd.DataFrame, dict]:
    """A wide run table whose losses follow a joint scaling law with multiplicative noise.

    Each run has a Dirichlet mixture, one model size (cycled over ``sizes``) and one row per
    token count in ``tokens``. Returns the table and the true parameters per target.
    """
    rng = np.random.default_rng(seed)
    domains = [f"d{j}" for j in range(n_domains)]
    H = rng.dirichlet(np.full(n_domains, 0.7), size=n_runs)
    rows, truth = [], {}
    for t in range(n_targets):
        truth[f"loss_{domains[t % n_domains]}"] = {
            "E": 1.5 + 0.2 * t, "A": 0.6, "alpha": 0.35, "B": 0.5, "beta": 0.3,
            "C": rng.uniform(0.5, 3.0, n_domains), "gamma": rng.uniform(0.2, 0.8, n_domains),
        }
    for i in range(n_runs):
        N = sizes[i % len(sizes)]
        for D in tokens:
            row = {"run_id": f"r{i:04d}.{int(N)}", **{f"w_{d}": H[i, j] for j, d in enumerate(domains)},
                   "n_params": N, "n_tokens": D, "seed": 0, "trainer": "imported"}
            for name, p in truth.items():
                mix = 1.0 / np.sum(p["C"] * H[i] ** p["gamma"])
                loss = p["E"] + p["A"] / (N / 1e8) ** p["alpha"] + p["B"] / (D / 1e9) ** p["beta"] + mix
                row[name] = loss * float(np.exp(rng.normal(0.0, noise)))
            rows.append(row)
    return pd.DataFrame(rows), truth
