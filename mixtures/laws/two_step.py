"""The two-step task law (model ladders, Bhagia et al. 2024): (N, D, h) -> task loss -> task accuracy.

* **Step 1**, the task loss ``taskloss_<task>`` from the run's weights and scale: any law family of
  :data:`mixtures.laws.families.LAWS` (or ``auto``) fitted on the run table like a domain loss; or,
  loss-to-loss, a law for a domain loss ``loss_<name>`` followed by :class:`~mixtures.laws.LossToLoss`
  from that loss to the task loss.
* **Step 2**, accuracy from the task loss: :class:`SigmoidAccuracy`,
  ``acc = chance + (1 - chance - b) / (1 + exp(k (L - L0)))``, fitted on every measured
  (task loss, accuracy) pair of the table, with bootstrap intervals (refits on rows drawn with
  replacement).

:meth:`TwoStepLaw.step_errors` reports the error of each step on a table of measured runs: step 1's
task-loss error, step 2's accuracy error given the measured loss, and the error of both chained.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import resample
from sklearn.utils.validation import check_is_fitted, validate_data

from mixtures.errors import TableError
from mixtures.laws.estimator import MixtureLawRegressor
from mixtures.laws.metrics import score
from mixtures.laws.mixture_law import MixtureLaw
from mixtures.laws.parametric import LossToLoss
from mixtures.laws.robust import fit_robust
from mixtures.tasks import acc_column, taskloss_column

HUBER_DELTA = 0.02   # accuracy residuals beyond 2 points count linearly (one noisy eval does not steer the fit)
MIN_POINTS = 4
RANDOM_STARTS = 3
LATER_HALF = 0.5  # the pipeline's step 1 fits each curve's later half (bench/tasks.py: task-loss MAE 0.24 -> 0.08 at 4x D)


class SigmoidAccuracy(RegressorMixin, BaseEstimator):
    """Accuracy as a falling sigmoid of a task loss: ``acc = chance + (1 - chance - b) / (1 + exp(k (L - L0)))``.

    Parameters
    ----------
    chance : float, default 0.25
        The accuracy of a uniform guess (the floor the sigmoid falls to at high loss).
    bootstrap : int, default 200
        Refits on rows drawn with replacement, for :meth:`predict_interval`.
    random_state : int, default 0
        Seeds the starts and the bootstrap draws.

    ``X`` has one column, the task loss ``L``; ``y`` is the accuracy. Fitted: ``theta_ = [b, k, L0]``
    (``0 <= b <= 1 - chance``, ``k > 0``) and ``bootstrap_`` (bootstrap, 3).
    """

    def __init__(self, chance=0.25, bootstrap=200, random_state=0):
        self.chance = chance
        self.bootstrap = bootstrap
        self.random_state = random_state

    @staticmethod
    def _curve(theta, L, chance):
        b, k, L0 = theta
        z = np.clip(k * (L - L0), -50.0, 50.0)
        return chance + (1.0 - chance - b) / (1.0 + np.exp(z))

    def _value_jac(self, theta, X, jac=True):
        b, k, L0 = theta
        L = X[:, 0]
        z = np.clip(k * (L - L0), -50.0, 50.0)
        s = 1.0 / (1.0 + np.exp(z))
        pred = self.chance + (1.0 - self.chance - b) * s
        if not jac:
            return pred, None
        ds = -s * (1.0 - s)  # d s / d z
        amp = 1.0 - self.chance - b
        return pred, np.column_stack([-s, amp * ds * (L - L0), -amp * ds * k])

    def _fit_once(self, X, y, seed, warm=None):
        """The best of a few starts (a bootstrap refit starts from the point fit ``warm`` and one default)."""
        L = X[:, 0]
        lo, hi = float(L.min()), float(L.max())
        span = max(hi - lo, 1e-3)
        top = 1.0 - self.chance
        bounds = [(0.0, top), (1e-3, 200.0 / span), (lo - 3 * span, hi + 3 * span)]
        b0 = float(np.clip(1.0 - np.max(y), 0.0, top))
        starts = [[b0, 4.0 / span, float(np.median(L))]]
        if warm is not None:
            starts.append([float(np.clip(v, a, b)) for v, (a, b) in zip(warm, bounds)])
        else:
            rng = np.random.default_rng(seed)
            starts += [[0.5 * top, 1.0 / span, lo], [b0, 10.0 / span, hi]]
            starts += [[rng.uniform(0, top), rng.uniform(0.5, 20.0) / span, rng.uniform(lo - span, hi + span)]
                       for _ in range(RANDOM_STARTS)]
        result = fit_robust(self._value_jac, X, y, np.array(starts), bounds, delta=HUBER_DELTA, log_space=False,
                            polish=1, name=type(self).__name__)
        return np.asarray(result.theta, dtype=np.float64)

    def fit(self, X, y, sample_weight=None):
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        if X.shape[1] != 1:
            raise ValueError(f"{type(self).__name__}: X must have one column (the task loss), got {X.shape[1]}.")
        if not 0 <= self.chance < 1:
            raise ValueError(f"chance must be in [0, 1), got {self.chance!r}.")
        if len(y) < MIN_POINTS:
            raise ValueError(f"{type(self).__name__}: {len(y)} point(s); the sigmoid needs at least {MIN_POINTS}.")
        seed = int(self.random_state)
        self.theta_ = self._fit_once(X, y, seed)
        rng = np.random.default_rng([seed, 0xB007])
        members = []
        for _ in range(int(self.bootstrap)):
            Xb, yb = resample(X, y, random_state=int(rng.integers(2**31 - 1)))
            if np.ptp(Xb[:, 0]) > 0:
                members.append(self._fit_once(Xb, yb, seed, warm=self.theta_))
        self.bootstrap_ = np.array(members).reshape(-1, 3)
        return self

    def predict(self, X):
        check_is_fitted(self, "theta_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._curve(self.theta_, X[:, 0], self.chance)

    def predict_interval(self, X, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """The central ``level`` interval of the bootstrap members' predictions (the point fit where
        there are none)."""
        check_is_fitted(self, "theta_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if len(self.bootstrap_) == 0:
            point = self.predict(X)
            return point, point
        members = np.stack([self._curve(t, X[:, 0], self.chance) for t in self.bootstrap_])
        q = (1.0 - level) / 2.0
        lo, hi = np.quantile(members, [q, 1.0 - q], axis=0)
        return lo, hi

    def fitted_state(self) -> dict:
        check_is_fitted(self, "theta_")
        return {"theta_": [float(v) for v in self.theta_], "bootstrap_": self.bootstrap_.tolist(),
                "n_features_in_": int(self.n_features_in_)}

    def set_fitted_state(self, state: dict) -> None:
        self.theta_ = np.asarray(state["theta_"], dtype=np.float64)
        self.bootstrap_ = np.asarray(state["bootstrap_"], dtype=np.float64).reshape(-1, 3)
        self.n_features_in_ = int(state["n_features_in_"])


@dataclass
class TwoStepLaw:
    """A fitted two-step law for one task (see the module docstring)."""

    task: str
    loss_law: MixtureLaw            # step 1: predicts ``taskloss_<task>``, or the ``via`` domain loss
    accuracy: SigmoidAccuracy       # step 2
    loss_map: LossToLoss | None = None
    via: str | None = None          # the domain-loss column the loss map reads (loss-to-loss)

    def predict_loss(self, frame: pd.DataFrame) -> np.ndarray:
        """Step 1: the task loss of each row (weights, and ``n_params``/``n_tokens`` for a scaling law)."""
        predicted = self.loss_law.predict(frame).iloc[:, 0].to_numpy(dtype=np.float64)
        if self.loss_map is None:
            return predicted
        return self.loss_map.predict(predicted.reshape(-1, 1))

    def predict_accuracy(self, frame: pd.DataFrame) -> np.ndarray:
        """Both steps: the accuracy of each row (step 2's sigmoid at step 1's task loss)."""
        return self.accuracy.predict(self.predict_loss(frame).reshape(-1, 1))

    def predict_accuracy_members(self, frame: pd.DataFrame, members: int) -> np.ndarray:
        """``(members, rows)`` accuracies of ``members`` plausible two-step laws: member ``m`` chains step 1's
        bootstrap refit ``m`` (its point fit when it has none) and step 2's bootstrap member ``m`` (cycled;
        the point fit when it has none)."""
        step1 = self.loss_law.predict_members(frame)
        if step1 is None:
            losses = np.broadcast_to(self.loss_law.predict(frame).iloc[:, 0].to_numpy(dtype=np.float64),
                                     (members, len(frame)))
        else:
            losses = np.asarray(step1, dtype=np.float64)[..., 0]
            losses = losses[np.arange(members) % len(losses)]
        if self.loss_map is not None:
            losses = self.loss_map.predict(losses.reshape(-1, 1)).reshape(losses.shape)
        thetas = self.accuracy.bootstrap_ if len(self.accuracy.bootstrap_) else self.accuracy.theta_[None, :]
        chance = self.accuracy.chance
        return np.stack([SigmoidAccuracy._curve(thetas[m % len(thetas)], losses[m], chance) for m in range(members)])

    def predict(self, frame: pd.DataFrame, level: float = 0.9) -> pd.DataFrame:
        """``taskloss_<task>``, ``acc_<task>`` and the accuracy's bootstrap interval ``acc_<task>_lo``/``_hi``
        (step 2's uncertainty at the predicted loss), indexed like ``frame``."""
        loss = self.predict_loss(frame)
        lo, hi = self.accuracy.predict_interval(loss.reshape(-1, 1), level)
        acc = acc_column(self.task)
        return pd.DataFrame({taskloss_column(self.task): loss, acc: self.accuracy.predict(loss.reshape(-1, 1)),
                             f"{acc}_lo": lo, f"{acc}_hi": hi}, index=frame.index)

    def step_errors(self, frame: pd.DataFrame) -> dict[str, dict[str, float]]:
        """Each step's error on measured rows (:func:`mixtures.laws.score`: MAE, MRE, Spearman, Pearson, n):
        ``loss`` (step 1, bits per byte), ``accuracy_given_loss`` (step 2 on the measured task loss) and
        ``accuracy`` (both steps chained); accuracies as fractions (x 100 for points)."""
        measured_loss = frame[taskloss_column(self.task)].to_numpy(dtype=np.float64)
        measured_acc = frame[acc_column(self.task)].to_numpy(dtype=np.float64)
        predicted_loss = self.predict_loss(frame)
        ok = np.isfinite(measured_loss)
        given = np.full(len(frame), np.nan)
        if ok.any():
            given[ok] = self.accuracy.predict(measured_loss[ok].reshape(-1, 1))
        chained = self.accuracy.predict(predicted_loss.reshape(-1, 1))
        return {"loss": score(measured_loss, predicted_loss),
                "accuracy_given_loss": score(measured_acc, given),
                "accuracy": score(measured_acc, chained)}


def _later_points(runs: pd.DataFrame, fraction: float, task: str) -> pd.DataFrame:
    """The rows at or past ``fraction`` of their run's final ``n_tokens`` (every row for 0)."""
    if fraction == 0.0:
        return runs
    missing = [c for c in ("run_id", "n_tokens") if c not in runs.columns]
    if missing:
        raise TableError(f"two-step law of task {task!r}: step1_from needs the column(s) {missing}.")
    final = runs.groupby("run_id")["n_tokens"].transform("max").to_numpy(dtype=np.float64)
    return runs[runs["n_tokens"].to_numpy(dtype=np.float64) >= fraction * final]


def fit_two_step(runs: pd.DataFrame, task: str, *, chance: float, law: str = "auto", via: str | None = None,
                 bootstrap: int = 200, seed: int = 0, law_bootstrap: int = 0, folds: int = 5,
                 context=None, step1_from: float = 0.0) -> TwoStepLaw:
    """Fit both steps of ``task`` on a run table holding ``taskloss_<task>`` and ``acc_<task>``.

    Step 1 fits ``law`` (a family name or ``auto``) to ``taskloss_<task>``, or, with ``via`` (a
    ``loss_<name>`` column), to that domain loss and a :class:`~mixtures.laws.LossToLoss` from it to the
    task loss; ``law_bootstrap`` refits of it (for :meth:`TwoStepLaw.predict_accuracy_members`), ``folds``
    and the families' ``context`` as :class:`~mixtures.laws.MixtureLawRegressor` takes them. Step 2 fits
    :class:`SigmoidAccuracy` (``bootstrap`` refits) on every row with both the task loss and accuracy.
    ``step1_from`` (in [0, 1)) leaves out of step 1 the eval points before that fraction of their run's final
    ``n_tokens`` (0.5: the later half of each curve, the regime an extrapolation in D lands in; the early
    transient does not bend the power law); step 2 still sees every point.
    """
    if not 0.0 <= step1_from < 1.0:
        raise ValueError(f"step1_from must be in [0, 1), got {step1_from!r}.")
    loss_col, acc_col = taskloss_column(task), acc_column(task)
    missing = [c for c in (loss_col, acc_col, *([via] if via else [])) if c not in runs.columns]
    if missing:
        raise TableError(f"two-step law of task {task!r}: the run table has no column(s) {missing}; "
                         "measure the task (target.tasks) or name a loss column that exists.")
    measured = runs[runs[loss_col].notna() & runs[acc_col].notna()]
    if len(measured) < MIN_POINTS:
        raise TableError(f"two-step law of task {task!r}: {len(measured)} row(s) with both {loss_col} and "
                         f"{acc_col}; the sigmoid needs at least {MIN_POINTS}.")
    accuracy = SigmoidAccuracy(chance=chance, bootstrap=bootstrap, random_state=seed).fit(
        measured[[loss_col]].to_numpy(), measured[acc_col].to_numpy())
    step1 = via or loss_col
    rows = _later_points(runs, step1_from, task)
    loss_law = MixtureLawRegressor(law=law, folds=folds, bootstrap=law_bootstrap, random_state=seed,
                                   context=context).fit(rows, rows[step1]).law_
    loss_map = None
    if via:
        pairs = runs[runs[via].notna() & runs[loss_col].notna()]
        loss_map = LossToLoss(random_state=seed).fit(pairs[[via]].to_numpy(), pairs[loss_col].to_numpy())
    return TwoStepLaw(task=task, loss_law=loss_law, accuracy=accuracy, loss_map=loss_map, via=via)


def fit_task_laws(runs: pd.DataFrame, chances: Mapping[str, float], *, law: str = "auto", bootstrap: int = 200,
                  law_bootstrap: int = 0, folds: int = 5, seed: int = 0, context=None,
                  step1_from: float = LATER_HALF) -> dict[str, TwoStepLaw]:
    """``{task: its two-step law}`` (:func:`fit_two_step`, step 1 on the task loss, by default on the later half
    of each run's curve) for every task of ``chances`` (``{task: chance accuracy}``, e.g.
    :func:`mixtures.tasks.task_chances`)."""
    return {task: fit_two_step(runs, task, chance=chance, law=law, bootstrap=bootstrap, seed=seed,
                               law_bootstrap=law_bootstrap, folds=folds, context=context, step1_from=step1_from)
            for task, chance in chances.items()}
