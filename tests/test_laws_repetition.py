"""The repetition-aware law (issue 22): the data-constrained effective data, the law reducing to the additive
law with unlimited data, its Jacobian, and the recovery of a known R* from synthetic runs."""

from __future__ import annotations

import numpy as np
import pytest

from mixtures.laws import LAWS, AdditiveLaw
from mixtures.laws.repetition import R_STAR_PRIOR, RepetitionLaw, effective_tokens
from mixtures.laws.synthetic import repeated_runs

K = 3
R_STAR = 6.0
UNIQUE = (2e6, None, None)  # domain 0 is scarce: 2M unique tokens; the others unlimited


def test_effective_tokens_follow_the_data_constrained_form():
    U = 1e6
    tokens = np.array([0.5e6, 1e6, 2e6, 5e6, 1e9])
    d, _ = effective_tokens(tokens, U, 5.0)
    np.testing.assert_allclose(d[:2], tokens[:2])  # within one epoch: every token counts
    np.testing.assert_allclose(d[2], U + U * 5.0 * (1 - np.exp(-1 / 5.0)))
    assert d[3] < tokens[3] and d[4] == pytest.approx(U * 6.0, rel=1e-9)  # saturates at U (1 + R*)
    np.testing.assert_array_equal(effective_tokens(tokens, np.inf, 5.0)[0], tokens)


def _theta(k: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate([[1.5, np.log(0.4), 0.3, np.log(0.5), 0.3], rng.uniform(0, 1.5, k),
                           rng.uniform(0.2, 0.8, k)])


def _X(rng, n: int, tokens=(4e6, 8e6, 16e6)) -> np.ndarray:
    H = rng.dirichlet(np.ones(K), size=n)
    D = rng.choice(tokens, size=n)
    return np.column_stack([H, np.full(n, 1e6), D])


def test_with_unlimited_data_it_is_the_additive_law():
    rng = np.random.default_rng(1)
    X = _X(rng, 40)
    theta = _theta(K)
    for unlimited in (None, (None, np.inf, 1e40)):
        law = RepetitionLaw(unique_tokens=unlimited)
        law._prepare(X, np.ones(len(X)))
        plain = AdditiveLaw()
        plain._prepare(X, np.ones(len(X)))
        np.testing.assert_allclose(law._value_jac(np.append(theta, np.log(3.0)), X, jac=False)[0],
                                   plain._value_jac(theta, X, jac=False)[0], rtol=1e-12)
    # and fitted on the same rows it fits the same law
    y = plain._value_jac(theta, X, jac=False)[0] * np.exp(rng.normal(0, 0.002, len(X)))
    fitted = RepetitionLaw().fit(X, y).predict(X)
    np.testing.assert_allclose(fitted, AdditiveLaw().fit(X, y).predict(X), rtol=5e-5)  # to the fit tolerance


@pytest.mark.parametrize("shared", [True, False])
def test_its_jacobian_matches_finite_differences(shared):
    rng = np.random.default_rng(2)
    X = _X(rng, 12)
    law = RepetitionLaw(unique_tokens=UNIQUE, shared_r_star=shared)
    law._prepare(X, np.ones(len(X)))
    theta = np.concatenate([_theta(K), np.log([R_STAR] if shared else [R_STAR, 3.0, 9.0])])
    _, J = law._value_jac(theta, X)
    for p in range(len(theta)):
        e = np.zeros(len(theta))
        e[p] = 1e-6
        numeric = (law._value_jac(theta + e, X, jac=False)[0] - law._value_jac(theta - e, X, jac=False)[0]) / 2e-6
        np.testing.assert_allclose(J[:, p], numeric, rtol=1e-4, atol=1e-9, err_msg=f"parameter {p}")


def test_it_recovers_a_known_r_star_from_synthetic_runs():
    X, y = repeated_runs(unique=UNIQUE, r_star=R_STAR)  # domain 0 (2M unique) is repeated up to ~30x
    law = RepetitionLaw(unique_tokens=UNIQUE).fit(X, y)
    assert law.r_star_[0] == pytest.approx(R_STAR, rel=0.25)
    # without a repeated run there is nothing to fit R* from: the published value stays
    once = X[:, -1] * X[:, 0] <= UNIQUE[0]
    assert RepetitionLaw(unique_tokens=UNIQUE).fit(X[once], y[once]).r_star_[0] == pytest.approx(R_STAR_PRIOR)
    # the additive law, blind to repetition, fits these runs worse
    blind = AdditiveLaw().fit(X, y)
    assert np.mean(np.abs(law.predict(X) / y - 1)) < 0.5 * np.mean(np.abs(blind.predict(X) / y - 1))


def test_repetition_is_a_registered_family_and_saves():
    assert LAWS.get("repetition") is RepetitionLaw
    rng = np.random.default_rng(4)
    X = _X(rng, 30)
    theta = np.append(_theta(K), np.log(R_STAR))
    truth = RepetitionLaw(unique_tokens=UNIQUE)
    truth._prepare(X, np.ones(len(X)))
    law = RepetitionLaw(unique_tokens=UNIQUE).fit(X, truth._value_jac(theta, X, jac=False)[0])
    again = RepetitionLaw(**law.get_params())
    again.set_fitted_state(law.fitted_state())
    np.testing.assert_array_equal(again.predict(X), law.predict(X))
    with pytest.raises(ValueError, match="unique_tokens has 2 values"):
        RepetitionLaw(unique_tokens=(1e6, 1e6)).fit(X, np.ones(len(X)))


CAPPED_UNIQUE = (40e6, None, None)  # domain 0 has 40M unique tokens: no run of <= 16M tokens repeats it


def _capped_design():
    """Runs that never repeat domain 0, and 12 runs that cap it at 10% of what they draw from it."""
    unique = CAPPED_UNIQUE
    rng = np.random.default_rng(5)
    X = _X(rng, 45, tokens=(4e6, 8e6, 16e6))
    repeated = _X(rng, 12, tokens=(4e6, 8e6, 16e6))
    repeated[:, :K] = rng.dirichlet([6.0, 1.0, 1.0], size=12)  # runs that lean on domain 0 ...
    caps = np.full((12, K), np.nan)
    caps[:, 0] = 0.1 * repeated[:, 0] * repeated[:, -1]  # ... and see 10% of its tokens unique: ~9 repeats
    truth = RepetitionLaw(unique_tokens=unique)
    truth._prepare(np.vstack([X, repeated]), np.ones(len(X) + 12))
    theta = np.append(_theta(K), np.log(R_STAR))
    y = truth._value_jac(theta, X, jac=False)[0] * np.exp(rng.normal(0, 0.002, len(X)))
    with truth._row_caps(caps):
        y_rep = truth._value_jac(theta, repeated, jac=False)[0] * np.exp(rng.normal(0, 0.002, 12))
    assert np.all(y_rep > truth._value_jac(theta, repeated, jac=False)[0])  # repeating costs loss
    return X, y, repeated, caps, y_rep


def test_runs_that_cap_a_domains_unique_tokens_let_it_fit_r_star():
    X, y, repeated, caps, y_rep = _capped_design()
    unique = CAPPED_UNIQUE
    without = RepetitionLaw(unique_tokens=unique).fit(X, y)
    assert without.r_star_[0] == pytest.approx(R_STAR_PRIOR)  # nothing repeated: the published prior stays
    all_caps = np.vstack([np.full((len(X), K), np.nan), caps])
    law = RepetitionLaw(unique_tokens=unique).fit(np.vstack([X, repeated]), np.append(y, y_rep), unique_tokens=all_caps)
    error = abs(law.r_star_[0] / R_STAR - 1)
    assert error < 0.25 and error < 0.5 * abs(without.r_star_[0] / R_STAR - 1), law.r_star_
    # it predicts the capped runs from their caps (without them it would see no repetition at all)
    capped = law.predict(repeated, unique_tokens=caps)
    assert np.mean(np.abs(capped / y_rep - 1)) < 0.01 < np.mean(np.abs(law.predict(repeated) / y_rep - 1))
    with pytest.raises(ValueError, match="unique_tokens per row has shape"):
        law.predict(repeated, unique_tokens=caps[:3])


def test_the_law_fit_reads_each_runs_cap_from_the_run_table_and_blind_families_leave_capped_runs_out():
    import pandas as pd

    from mixtures.laws import fit_law

    X, y, repeated, caps, y_rep = _capped_design()

    def table(X, y, caps=None):
        frame = pd.DataFrame(X, columns=[f"w_d{j}" for j in range(K)] + ["n_params", "n_tokens"])
        frame.insert(0, "run_id", [f"r{i}" for i in range(len(X))])
        frame["loss_t"] = y
        if caps is not None:
            frame["unique_d0"] = caps[:, 0]
        return frame

    plain = table(X, y)
    runs = pd.concat([plain, table(repeated, y_rep, caps).assign(run_id=lambda f: "cap-" + f["run_id"])],
                     ignore_index=True)
    fit = fit_law(runs, ["loss_t"], law="repetition", folds=3, context={"unique_tokens": CAPPED_UNIQUE})
    member = fit.law.models["loss_t"].members[0][1]
    assert member.r_star_[0] == pytest.approx(R_STAR, rel=0.25)  # learnt from the capped runs
    capped = fit.oof["loss_t"].index >= len(X)
    oof = fit.oof["loss_t"]
    assert np.mean(np.abs(oof.loc[capped, "repetition"] / oof.loc[capped, "actual"] - 1)) < 0.02  # CV saw the caps
    # a family blind to caps fits the same law with or without the capped runs in the table
    blind = fit_law(runs, ["loss_t"], law="additive", folds=3).law.predict(plain)
    np.testing.assert_array_equal(blind, fit_law(plain, ["loss_t"], law="additive", folds=3).law.predict(plain))
