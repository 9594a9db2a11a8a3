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


def repeated_runs(n_runs: int = 90, *, unique: tuple = (2e6, None, None), r_star: float = 6.0,
                  tokens=(4e6, 16e6, 64e6), noise: float = 0.002, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``X`` (weights, ``n_params``, ``n_tokens``) and losses of a repetition-aware additive law whose first domain
    has ``unique[0]`` unique tokens (repeated up to ~30x at the largest budget); a third of the runs lean on it."""
    from mixtures.laws.repetition import RepetitionLaw

    rng = np.random.default_rng(seed)
    k = len(unique)
    H = rng.dirichlet(np.ones(k), size=n_runs)
    H[: n_runs // 3] = rng.dirichlet([6.0] + [1.0] * (k - 1), size=n_runs // 3)
    X = np.column_stack([H, np.full(n_runs, 1e6), rng.choice(tokens, size=n_runs)])
    truth = RepetitionLaw(unique_tokens=unique)
    truth._prepare(X, np.ones(n_runs))
    theta = np.concatenate([[1.5, np.log(0.4), 0.3, np.log(0.5), 0.3], rng.uniform(0, 1.5, k),
                            rng.uniform(0.2, 0.8, k), [np.log(r_star)]])
    y = truth._value_jac(theta, X, jac=False)[0] * np.exp(rng.normal(0, noise, n_runs))
    return X, y
