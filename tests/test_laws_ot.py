"""The OT law (issue 22): its distance against POT's exact solver, its ranking of mixtures on synthetic domains
whose target is a known mixture, its gradient against finite differences, and the revealed-features glue."""

from __future__ import annotations

import json

import numpy as np
import ot
import pandas as pd
import pytest
from scipy.stats import spearmanr

from mixtures.laws import LAWS, fit_law
from mixtures.laws.estimator import candidate_families
from mixtures.laws.context import law_context
from mixtures.laws.ot import OTLaw, entropic_ot, squared_cost
from mixtures.laws.revealed import PointCloud, RevealedFeatures, revealed_features

K = 4
TARGET = np.array([0.5, 0.3, 0.2, 0.0])  # the target is this mixture of the domains
SIZES = (1e6, 2e6)  # tokens of the "proxy runs"


def test_entropic_ot_matches_pots_exact_solver_on_a_small_case():
    rng = np.random.default_rng(0)
    xs, xt = rng.normal(size=(7, 3)), rng.normal(1.0, 1.0, size=(5, 3))
    a, b = rng.dirichlet(np.ones(7)), rng.dirichlet(np.ones(5))
    cost = squared_cost(xs, xt)
    exact = ot.emd2(a, b, cost)
    for epsilon in (1e-3, 1e-2):
        value, _ = entropic_ot(a, b, cost, epsilon)
        # the entropic value is the exact cost plus epsilon * KL(P | a b^T), a KL of at most log(min(n, m))
        assert exact - 1e-9 <= value <= exact + epsilon * np.log(5) + 1e-9
    assert entropic_ot(a, b, cost, 1e-3)[0] == pytest.approx(exact, abs=2e-3)
    assert entropic_ot(a, b, cost, 0.5)[0] > exact + 1e-2  # and the regulariser does count when large


def test_the_distance_gradient_is_the_dual_potential():
    rng = np.random.default_rng(1)
    cost = squared_cost(rng.normal(size=(6, 2)), rng.normal(size=(4, 2)))
    a, b = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(4))
    a[2] = 0.0  # a point without mass still has a potential (its c-transform)
    a /= a.sum()
    value, f = entropic_ot(a, b, cost, 0.05)
    for i, j in ((0, 1), (4, 3)):  # central differences between points with mass
        step = np.zeros(6)
        step[i], step[j] = 1e-5, -1e-5
        numeric = (entropic_ot(a + step, b, cost, 0.05)[0] - entropic_ot(a - step, b, cost, 0.05)[0]) / 2
        assert numeric == pytest.approx(f @ step, rel=1e-4, abs=1e-10)
    step = np.zeros(6)
    step[2], step[5] = 1e-6, -1e-6  # mass moved onto the empty point: a forward difference
    assert entropic_ot(a + step, b, cost, 0.05)[0] - value == pytest.approx(f @ step, rel=1e-2)


# -- synthetic domains: well-separated clouds; the target's revealed samples come from TARGET ----------


def _clouds(rng, n: int) -> list[np.ndarray]:
    centres = 3.0 * np.eye(K)
    return [centres[j] + 0.3 * rng.normal(size=(n, K)) for j in range(K)]


@pytest.fixture(scope="module")
def features_file(tmp_path_factory):
    rng = np.random.default_rng(2)
    domains = _clouds(rng, 24)
    draws = rng.choice(K, size=60, p=TARGET)
    target = np.array([_clouds(rng, 1)[j][0] for j in draws])
    revealed = RevealedFeatures({f"d{j}": PointCloud(p, np.full(len(p), 1 / len(p))) for j, p in enumerate(domains)},
                                {"tgt": PointCloud(target, np.full(len(target), 1 / len(target)))})
    path = tmp_path_factory.mktemp("ot") / "revealed.npz"
    revealed.save(path)
    return path


def _true_loss(H: np.ndarray, tokens: float) -> np.ndarray:
    """A loss that grows with the mixture's distance from the target mixture, a power law in the tokens."""
    return (2.0 + 1.5 * np.abs(H - TARGET).sum(axis=1)) * (tokens / 1e6) ** -0.1


def _table(H: np.ndarray, sizes=SIZES, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i, h in enumerate(H):
        for tokens in sizes:
            loss = _true_loss(h[None], tokens)[0] * np.exp(rng.normal(0, 0.002))
            rows.append({"run_id": f"r{i}", **{f"w_d{j}": h[j] for j in range(K)}, "n_params": 1e5,
                         "n_tokens": tokens, "loss_tgt": loss})
    return pd.DataFrame(rows)


def _X(H: np.ndarray, tokens: float) -> np.ndarray:
    return np.column_stack([H, np.full(len(H), 1e5), np.full(len(H), tokens)])


@pytest.fixture(scope="module")
def mixtures():
    rng = np.random.default_rng(4)
    return rng.dirichlet(np.ones(K), size=16), rng.dirichlet(np.ones(K), size=16)


@pytest.fixture(scope="module")
def fitted(features_file, mixtures):
    train, _ = mixtures
    table = _table(train)
    X = table[[f"w_d{j}" for j in range(K)] + ["n_params", "n_tokens"]].to_numpy()
    return OTLaw(features=str(features_file)).fit(X, table["loss_tgt"].to_numpy())


def test_the_ot_law_recovers_the_ranking_of_held_out_mixtures(fitted, mixtures):
    _, held_out = mixtures
    for tokens in (SIZES[-1], 4 * SIZES[-1]):  # at a trained size, and extrapolated 4x beyond
        predicted = fitted.predict(_X(held_out, tokens))
        truth = _true_loss(held_out, tokens)
        assert spearmanr(predicted, truth).statistic > 0.9
        assert np.mean(np.abs(predicted - truth) / truth) < 0.03
    # the OT distance alone ranks them: its minimum among the held-out mixtures is the one nearest TARGET
    nearest = np.argmin(np.abs(held_out - TARGET).sum(axis=1))
    assert np.argmin(fitted.distances(held_out)) == nearest


def test_its_gradient_matches_finite_differences(fitted):
    h = np.array([0.2, 0.3, 0.1, 0.4])
    for tokens in (1.5e6, 8e6):  # interpolated between trained sizes, and extrapolated
        x = np.concatenate([h, [1e5, tokens]])
        grad = fitted.gradient(x[None])[0]
        step = 1e-6
        numeric = [(fitted.predict((x + step * e)[None])[0] - fitted.predict((x - step * e)[None])[0]) / (2 * step)
                   for e in np.eye(len(x))[:K]]
        np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-8)
        assert np.abs(grad).max() > 1e-3  # not a flat law


def test_it_saves_and_reloads_and_refuses_missing_features(fitted, mixtures):
    clone = OTLaw(**fitted.get_params())
    clone.set_fitted_state(fitted.fitted_state())
    X = _X(mixtures[1], 3e6)
    np.testing.assert_array_equal(clone.predict(X), fitted.predict(X))
    with pytest.raises(ValueError, match="needs features="):
        OTLaw().fit(X, np.ones(len(X)))
    with pytest.raises(ValueError, match="target 'nope'"):
        OTLaw(features=fitted.features, target="nope").fit(X, np.ones(len(X)))


def test_ot_is_a_registered_family_auto_uses_only_with_its_features(features_file, mixtures):
    assert LAWS.get("ot") is OTLaw
    table = _table(mixtures[0])
    fit = fit_law(table, ["loss_tgt"], law="ot", folds=3, context={"features": str(features_file)})
    assert fit.chosen == {"loss_tgt": "ot"} and fit.best_metrics().loc["loss_tgt", "spearman"] > 0.9
    assert "ot" not in candidate_families(table, "auto")
    assert "ot" in candidate_families(table, "auto", {"features": str(features_file)})


def test_revealed_features_of_texts_put_a_domain_nearest_itself():
    code = [f"def f{i}(x):\n    return x + {i}\n" for i in range(12)]
    prose = [f"The committee met on day {i} and discussed the annual report at length." for i in range(12)]
    revealed = revealed_features({"code": code[:8], "prose": prose[:8]}, {"code_like": code[8:]}, dims=4,
                                 support=3, seed=0)
    again = revealed_features({"code": code[:8], "prose": prose[:8]}, {"code_like": code[8:]}, dims=4,
                              support=3, seed=0)
    assert all(np.isclose(c.masses.sum(), 1.0) for c in [*revealed.domains.values(), *revealed.targets.values()])
    np.testing.assert_array_equal(revealed.domains["code"].points, again.domains["code"].points)  # seeded
    points = np.vstack([c.points for c in revealed.domains.values()])
    cost = squared_cost(points, revealed.targets["code_like"].points)
    b = revealed.targets["code_like"].masses
    n_code = len(revealed.domains["code"].masses)
    pure = [np.concatenate([revealed.domains["code"].masses, np.zeros(len(points) - n_code)]),
            np.concatenate([np.zeros(n_code), revealed.domains["prose"].masses])]
    assert entropic_ot(pure[0], b, cost, 0.05)[0] < entropic_ot(pure[1], b, cost, 0.05)[0]


def test_revealed_documents_follow_the_config(tmp_path):
    from mixtures.config import RepeatRunsConfig, parse_config
    from mixtures.corpus.revealed import revealed_texts

    for name in ("a", "b"):
        lines = [json.dumps({"id": f"{name}{i}", "text": f"document {i} of {name}"}) for i in range(100)]
        (tmp_path / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    config = parse_config({"domains": [{"name": "a", "paths": ["a.jsonl"], "id_field": "id", "revealed": 0.1},
                                       {"name": "b", "paths": ["b.jsonl"], "id_field": "id", "revealed": 3}],
                           "corpus": {"val_fraction": 0.3}},
                          base_dir=tmp_path)
    a, b = revealed_texts(config, "a"), revealed_texts(config, "b")
    assert len(a) == 10 and len(b) == 3 and len(set(a)) == 10
    assert revealed_texts(config, "a") == a and revealed_texts(config, "a", seed=1) != a  # seeded, stable
    assert set(revealed_texts(config, "a", "train")) <= {f"document {i} of a" for i in range(100)}
    with pytest.raises(Exception, match="revealed"):
        parse_config({"domains": [{"name": "a", "paths": ["a.jsonl"], "revealed": -1}]}, base_dir=tmp_path)
    # the law stage's context: the revealed features, and the unique tokens when the law is repetition
    config.laws.law, config.storage.root = "repetition", str(tmp_path / "root")
    catalog = pd.DataFrame({"domain": ["b", "a"], "train_tokens": [900, 700]})
    context = law_context(config, catalog)
    assert context["unique_tokens"] == (700.0, 900.0)  # in the config's domain order
    revealed = RevealedFeatures.load(context["features"])
    assert list(revealed.domains) == ["a", "b"] and set(revealed.targets) == {"a", "b"}
    config.laws.law = "auto"
    assert "unique_tokens" not in law_context(config, catalog)
    config.proxy.repeat_runs = RepeatRunsConfig(domains=["a"])  # repeated runs: auto may choose repetition
    assert law_context(config, catalog)["unique_tokens"] == (700.0, 900.0)


# -- the optimizer on the OT law's analytic gradient -------------------------------------------------


@pytest.fixture(scope="module")
def ot_mixture_law(fitted, features_file, mixtures):
    """A two-target law of OT members (the second fit on a loss that prefers another mixture)."""
    from mixtures.laws.data import ScaleRule
    from mixtures.laws.mixture_law import MixtureLaw, TargetModel

    table = _table(mixtures[0], seed=5)
    X = table[[f"w_d{j}" for j in range(K)] + ["n_params", "n_tokens"]].to_numpy()
    other = OTLaw(features=str(features_file)).fit(X, 6.0 - table["loss_tgt"].to_numpy())
    models = {"loss_tgt": TargetModel("ot", [("ot", fitted)]), "loss_far": TargetModel("ot", [("ot", other)])}
    return MixtureLaw([f"d{j}" for j in range(K)], list(models), models, ScaleRule(None, "all"))


def test_the_objective_gradient_through_the_ot_law_matches_finite_differences(ot_mixture_law):
    from mixtures.optimize import make_problem

    law = ot_mixture_law
    natural = {f"d{j}": v for j, v in enumerate([0.4, 0.3, 0.2, 0.1])}
    problem = make_problem(law, {"one": {"loss_tgt": 1.0}, "both": {"loss_tgt": 3.0, "loss_far": 1.0}},
                           natural=natural, kl_penalty=0.05, n_params=1e5, tokens=8e6)
    evaluator = problem.evaluator(law)
    w = np.array([[0.2, 0.3, 0.1, 0.4], [0.6, 0.1, 0.25, 0.05]])
    grad = evaluator.gradient(w)
    assert grad.shape == (2, 2, K) and evaluator.evaluations == 2  # one law evaluation per row
    step = 1e-6
    for i, e in enumerate(np.eye(K)):
        numeric = (evaluator(w + step * e) - evaluator(w - step * e)) / (2 * step)
        np.testing.assert_allclose(grad[:, :, i], numeric, rtol=1e-4, atol=1e-7)
    assert np.abs(grad[:, 0] - grad[:, 1]).max() > 1e-3  # the groups differ: not one gradient copied


def test_slsqp_on_the_exact_gradient_finds_the_finite_difference_optimum_in_fewer_evaluations(ot_mixture_law):
    from mixtures.optimize import make_problem, solve

    law = ot_mixture_law
    problem = make_problem(law, {"loss_tgt": 1.0}, n_params=1e5, tokens=8e6,
                           bounds={"d3": (0.05, 1.0)})  # the target mixture has no d3: an active bound too
    exact = solve(problem, law, "slsqp", starts=1, screen=0)  # one start, at the anchor: the same path
    finite = solve(problem, law, "slsqp", starts=1, screen=0, gradient="finite")
    assert exact.details["gradient"] == "exact" and finite.details["gradient"] == "finite"
    got, ref = (np.array(list(r.weights.values())) for r in (exact, finite))
    assert np.abs(got - ref).max() < 1e-4, (got, ref)
    assert exact.objective <= finite.objective + 1e-9
    assert np.abs(got - np.array([0.5, 0.3, 0.2, 0.0]))[:3].max() < 0.1  # near the target mixture, as built
    assert exact.evaluations < 0.6 * finite.evaluations, (exact.evaluations, finite.evaluations)
