"""Disentanglement scores of a representation against known ground-truth factors (numpy and scikit-learn only).

A representation is probed through `codes_of(factors) -> codes`: factor classes (n, K) int -> codes (n, D)
(the section in `evaluate/disentanglement.py` renders the factors with the dataset's `observe` and encodes
the images to z_mean). The scores follow disentanglement_lib (Locatello et al. 2019), whose sample counts and
discretisation are the defaults here (`Samples`, `MIG_BINS`, `FACTOR_VAE_PRUNE`):

    beta_vae_score    Higgins et al. 2017: accuracy of a linear classifier predicting which factor was fixed
                      from the mean |z1 - z2| of pairs that share that factor
    factor_vae_score  Kim & Mnih 2018: accuracy of the majority-vote classifier from "the code dimension of
                      least normalised variance" to the factor held fixed in a batch
    mig               Chen et al. 2018: mean over factors of the gap between the two largest I(z_j; v_k),
                      divided by H(v_k), codes discretised into 20 equal-width bins
    sap               Kumar et al. 2018: mean over factors of the gap between the two best single-code
                      classifiers' test accuracies
    dci               Eastwood & Williams 2018: disentanglement, completeness and informativeness from the
                      feature importances of one gradient-boosted classifier per factor

Every estimator is built with all its settings passed explicitly (`*_classifier`), so a scikit-learn
update that changes a default cannot move a score; randomness comes only from `seed` (docs/metrics.md).

    >>> out = scores(lambda f: f.astype(float), (3, 6, 40, 32, 32), seed=0)   # z = the factors: ~1
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import joblib
import numpy as np
import scipy.stats
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mutual_info_score
from sklearn.svm import LinearSVC

CodeFn = Callable[[np.ndarray], np.ndarray]  # factor classes (n, K) int -> codes (n, D)

MIG_BINS = 20  # histogram discretiser, equal-width bins per code dimension (disentanglement_lib's mig.gin)
FACTOR_VAE_PRUNE = 0.05  # code dimensions with a global standard deviation below this are ignored
CHUNK = 8192  # most factor rows handed to `codes_of` at once (memory of the rendered images)


@dataclass(frozen=True)
class Samples:
    """How many observations each score draws: disentanglement_lib's defaults (unsupervised_study_v1)."""

    beta_vae_batch: int = 64  # pairs averaged into one training point
    beta_vae_train: int = 10_000
    beta_vae_eval: int = 5_000
    factor_vae_batch: int = 64  # observations sharing the fixed factor, per vote
    factor_vae_train: int = 10_000
    factor_vae_eval: int = 5_000
    factor_vae_variance: int = 10_000  # observations for the global variances
    train: int = 10_000  # MIG, SAP and DCI
    test: int = 5_000  # SAP and DCI

    @classmethod
    def scaled(cls, points: int, batch: int = 64) -> Samples:
        """`points` training points for every score, half as many evaluation points, `batch` per point."""
        half = max(1, points // 2)
        return cls(beta_vae_batch=batch, beta_vae_train=points, beta_vae_eval=half, factor_vae_batch=batch,
                   factor_vae_train=points, factor_vae_eval=half, factor_vae_variance=points, train=points, test=half)


# ---------------------------------------------------------------- the pinned estimators
def beta_vae_classifier(seed: int) -> LogisticRegression:
    """disentanglement_lib's `LogisticRegression(random_state=...)` with the defaults of scikit-learn >= 0.22 written
    out (multinomial lbfgs; the 2019 study ran 0.20's liblinear one-vs-rest). The penalty is left out: L2 in every
    release (`penalty` is deprecated from 1.8, and `l1_ratio=0` warns before 1.8)."""
    return LogisticRegression(C=1.0, solver="lbfgs", max_iter=100, tol=1e-4, fit_intercept=True,
                              intercept_scaling=1.0, class_weight=None, dual=False, warm_start=False,
                              random_state=seed)


def sap_classifier() -> LinearSVC:
    """disentanglement_lib's `LinearSVC(C=0.01, class_weight="balanced")`, solved in the primal (`dual=False`):
    deterministic and converged on one feature (the dual solver of older defaults stops at max_iter there)."""
    return LinearSVC(C=0.01, class_weight="balanced", penalty="l2", loss="squared_hinge", dual=False, tol=1e-4,
                     fit_intercept=True, intercept_scaling=1.0, multi_class="ovr", max_iter=1000)


DCI_TREES = 100  # boosting stages (disentanglement_lib: GradientBoostingClassifier() = 100)


def dci_classifier(seed: int) -> GradientBoostingClassifier:
    """disentanglement_lib's `GradientBoostingClassifier()`, every setting written out, seeded."""
    return GradientBoostingClassifier(loss="log_loss", learning_rate=0.1, n_estimators=DCI_TREES, subsample=1.0,
                                      min_samples_split=2, min_samples_leaf=1, min_weight_fraction_leaf=0.0,
                                      max_depth=3, min_impurity_decrease=0.0, init=None, max_features=None,
                                      max_leaf_nodes=None, warm_start=False, validation_fraction=0.1,
                                      n_iter_no_change=None, tol=1e-4, ccp_alpha=0.0, random_state=seed)


@contextlib.contextmanager
def _quiet():
    """Silences scikit-learn's "more classes than half the samples: a regression problem?" hint: factors are
    classes by definition, and small sample counts (`vaelab evaluate --factor-samples`) trip it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%",
                                category=UserWarning)
        yield


# ---------------------------------------------------------------- sampling the ground truth
def sample_factors(sizes: tuple[int, ...], n: int, rng: np.random.Generator) -> np.ndarray:
    """n factor combinations (n, K) int64, each factor uniform over its classes, independently."""
    return np.stack([rng.integers(0, s, n) for s in sizes], axis=1).astype("int64")


def _codes(codes_of: CodeFn, factors: np.ndarray) -> np.ndarray:
    """codes_of over (N, K) factors in chunks -> (N, D) float64."""
    out = [np.asarray(codes_of(factors[i:i + CHUNK]), "float64") for i in range(0, len(factors), CHUNK)]
    z = np.concatenate(out)
    if z.ndim != 2 or len(z) != len(factors):
        raise ValueError(f"codes_of: expected codes of shape ({len(factors)}, D), received {z.shape}")
    return z


def draw(codes_of: CodeFn, sizes: tuple[int, ...], n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(codes (n, D), factors (n, K)) of n uniform draws from the ground truth."""
    factors = sample_factors(sizes, n, rng)
    return _codes(codes_of, factors), factors


def _grouped(codes_of: CodeFn, groups: np.ndarray) -> np.ndarray:
    """codes of factor groups (P, B, K) -> (P, B, D)."""
    p, b, k = groups.shape
    return _codes(codes_of, groups.reshape(p * b, k)).reshape(p, b, -1)


def _blocks(n: int, rows_per_point: int) -> list[int]:
    """Point counts of consecutive blocks whose factor rows fit in one CHUNK (memory stays flat in n)."""
    step = max(1, CHUNK // rows_per_point)
    return [min(step, n - i) for i in range(0, n, step)]


# ---------------------------------------------------------------- beta-VAE score
def _beta_vae_points(codes_of: CodeFn, sizes, batch: int, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """n training points: (mean |z1 - z2| over `batch` pairs sharing factor y (n, D), y (n,))."""
    y = rng.integers(0, len(sizes), n)
    features, start = [], 0
    for m in _blocks(n, 2 * batch):
        a = sample_factors(sizes, m * batch, rng).reshape(m, batch, -1)  # (m, B, K)
        b = sample_factors(sizes, m * batch, rng).reshape(m, batch, -1)
        rows, k = np.arange(m), y[start:start + m]
        b[rows, :, k] = a[rows, :, k]  # each pair shares its point's factor y
        z = _grouped(codes_of, np.concatenate([a, b], axis=1))  # (m, 2B, D)
        features.append(np.abs(z[:, :batch] - z[:, batch:]).mean(axis=1))
        start += m
    return np.concatenate(features), y


def beta_vae_score(codes_of: CodeFn, sizes: tuple[int, ...], seed: int = 0, batch: int = 64,
                   num_train: int = 10_000, num_eval: int = 5_000) -> dict:
    """Higgins et al. 2017 (Sec. 3): {"train_accuracy", "eval_accuracy", "converged"}; chance is 1/K."""
    rng = np.random.default_rng(seed)
    x, y = _beta_vae_points(codes_of, sizes, batch, num_train, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # recorded as `converged` instead
        model = beta_vae_classifier(seed).fit(x, y)
    x_eval, y_eval = _beta_vae_points(codes_of, sizes, batch, num_eval, rng)
    return {"train_accuracy": float(model.score(x, y)), "eval_accuracy": float(model.score(x_eval, y_eval)),
            "converged": bool(np.max(model.n_iter_) < model.max_iter)}


# ---------------------------------------------------------------- FactorVAE score
def _factor_vae_votes(codes_of: CodeFn, sizes, batch: int, n: int, rng, variance: np.ndarray,
                      active: np.ndarray) -> np.ndarray:
    """(K, D) votes: for each of n batches with factor k fixed, the active dimension of least variance relative
    to its global variance."""
    k = rng.integers(0, len(sizes), n)
    votes, start = np.zeros((len(sizes), len(active)), "int64"), 0
    for m in _blocks(n, batch):
        rows, fixed = np.arange(m), k[start:start + m]
        groups = sample_factors(sizes, m * batch, rng).reshape(m, batch, -1)  # (m, B, K)
        groups[rows, :, fixed] = groups[rows, 0, fixed][:, None]  # one value of factor k per batch
        z = _grouped(codes_of, groups)  # (m, B, D)
        ratio = np.var(z[:, :, active], axis=1, ddof=1) / variance[active]  # (m, D_active)
        np.add.at(votes, (fixed, np.flatnonzero(active)[np.argmin(ratio, axis=1)]), 1)
        start += m
    return votes


def factor_vae_score(codes_of: CodeFn, sizes: tuple[int, ...], seed: int = 0, batch: int = 64,
                     num_train: int = 10_000, num_eval: int = 5_000, num_variance: int = 10_000,
                     prune: float = FACTOR_VAE_PRUNE) -> dict:
    """Kim & Mnih 2018 (Sec. 4): {"train_accuracy", "eval_accuracy", "active_dims"}; chance is about 1/K.

    Codes are divided by their global variance (over `num_variance` draws, ddof=1); dimensions whose
    global standard deviation is below `prune` (collapsed to the prior) take no part."""
    rng = np.random.default_rng(seed)
    z, _ = draw(codes_of, sizes, num_variance, rng)
    variance = np.var(z, axis=0, ddof=1)
    active = np.sqrt(variance) >= prune
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "active_dims": 0}
    train = _factor_vae_votes(codes_of, sizes, batch, num_train, rng, variance, active)
    classifier = np.argmax(train, axis=0)  # dimension -> the factor it votes for most
    columns = np.arange(train.shape[1])
    evaluation = _factor_vae_votes(codes_of, sizes, batch, num_eval, rng, variance, active)
    return {"train_accuracy": float(train[classifier, columns].sum() / train.sum()),
            "eval_accuracy": float(evaluation[classifier, columns].sum() / evaluation.sum()),
            "active_dims": int(active.sum())}


# ---------------------------------------------------------------- MIG
def discretize(z: np.ndarray, bins: int = MIG_BINS) -> np.ndarray:
    """(n, D) codes -> (n, D) bin numbers 1..bins: equal-width bins over each dimension's range."""
    return np.stack([np.digitize(z[:, j], np.histogram(z[:, j], bins)[1][:-1]) for j in range(z.shape[1])], 1)


def mutual_information(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(D, K) I(code_j; factor_k) in nats of discrete codes (n, D) and factors (n, K) (empirical distribution)."""
    return np.array([[mutual_info_score(factors[:, k], codes[:, j]) for k in range(factors.shape[1])]
                     for j in range(codes.shape[1])])


def entropy(factors: np.ndarray) -> np.ndarray:
    """(K,) H(factor_k) in nats of the empirical distribution."""
    return np.array([mutual_info_score(factors[:, k], factors[:, k]) for k in range(factors.shape[1])])


def _top_two_gap(matrix: np.ndarray) -> np.ndarray:
    """(D, K) -> (K,) the largest minus the second largest entry of each column."""
    top = np.sort(matrix, axis=0)
    return top[-1] - top[-2]


def mig(z: np.ndarray, factors: np.ndarray, bins: int = MIG_BINS) -> dict:
    """Chen et al. 2018 (Eq. 6): {"mig", "per_factor"}; needs D >= 2 code dimensions (None otherwise)."""
    if z.shape[1] < 2:
        return {"mig": None, "per_factor": None, "note": "needs at least 2 code dimensions"}
    m = mutual_information(discretize(z, bins), factors)  # (D, K)
    h = entropy(factors)
    gap = np.divide(_top_two_gap(m), h, out=np.zeros_like(h), where=h > 0)  # a constant factor scores 0
    return {"mig": float(gap.mean()), "per_factor": gap.tolist()}


# ---------------------------------------------------------------- SAP
def sap(z: np.ndarray, factors: np.ndarray, z_test: np.ndarray, factors_test: np.ndarray) -> dict:
    """Kumar et al. 2018 (Sec. 3, discrete factors): {"sap", "per_factor"} from the (D, K) test accuracies of
    one linear SVM per (code dimension, factor) pair; needs D >= 2 (None otherwise)."""
    if z.shape[1] < 2:
        return {"sap": None, "per_factor": None, "note": "needs at least 2 code dimensions"}
    score = np.zeros((z.shape[1], factors.shape[1]))
    for k in range(factors.shape[1]):
        if len(np.unique(factors[:, k])) < 2:
            continue  # a factor with one value in the sample: nothing to classify, it scores 0
        for j in range(z.shape[1]):
            with _quiet():
                model = sap_classifier().fit(z[:, j:j + 1], factors[:, k])
            score[j, k] = np.mean(model.predict(z_test[:, j:j + 1]) == factors_test[:, k])
    gap = _top_two_gap(score)
    return {"sap": float(gap.mean()), "per_factor": gap.tolist()}


# ---------------------------------------------------------------- DCI
def _fit_factor(z, y, z_test, y_test, seed: int, classifier: Callable) -> tuple[np.ndarray, float, float]:
    """(importance of each code (D,), train accuracy, test accuracy) of one factor's classifier."""
    model = classifier(seed).fit(z, y)
    return (np.abs(model.feature_importances_), float(np.mean(model.predict(z) == y)),
            float(np.mean(model.predict(z_test) == y_test)))


def importance_matrix(z: np.ndarray, factors: np.ndarray, z_test: np.ndarray, factors_test: np.ndarray, seed: int = 0,
                      classifier: Callable = dci_classifier) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """((D, K) importance of code j for factor k, train accuracies (K,), test accuracies (K,)): one
    gradient-boosted classifier per factor (`classifier(seed)`), its impurity-based feature importances.

    The factors are fitted on parallel threads (one per CPU core, the factors with most classes first; the
    trees are grown without Python's lock), which gives the same numbers as fitting them one after another:
    each fit depends only on its own data and seed. A factor with one value in the sample is predicted
    perfectly by nothing (importance 0, accuracy 1)."""
    importance = np.zeros((z.shape[1], factors.shape[1]))
    train, test = np.ones(factors.shape[1]), np.ones(factors.shape[1])
    classes = [len(np.unique(factors[:, k])) for k in range(factors.shape[1])]
    order = sorted((k for k in range(factors.shape[1]) if classes[k] > 1), key=lambda k: -classes[k])
    with _quiet():  # the filter is process-wide: it covers the worker threads
        fits = joblib.Parallel(n_jobs=max(1, min(len(order), os.cpu_count() or 1)), prefer="threads")(
            joblib.delayed(_fit_factor)(z, factors[:, k], z_test, factors_test[:, k], seed, classifier)
            for k in order)
    for k, (imp, train[k], test[k]) in zip(order, fits, strict=True):
        importance[:, k] = imp
    return importance, train, test


def _one_minus_entropy(p: np.ndarray) -> np.ndarray:
    """1 - H(p) / log(n) of each column of p (n, m) (normalised first); 1 for n = 1."""
    if p.shape[0] == 1:
        return np.ones(p.shape[1])
    return 1.0 - scipy.stats.entropy(p + 1e-11, base=p.shape[0])


def dci_from_importance(importance: np.ndarray) -> tuple[float, float]:
    """(disentanglement, completeness) of a (D, K) importance matrix (Eastwood & Williams 2018, Sec. 2):
    each code's 1 - H_K(P_j.) weighted by its share of the total importance, and each factor's
    1 - H_D(P_.k) weighted by its share."""
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    code_share = weights.sum(axis=1) / weights.sum()
    factor_share = weights.sum(axis=0) / weights.sum()
    return (float(np.sum(_one_minus_entropy(importance.T) * code_share)),
            float(np.sum(_one_minus_entropy(importance) * factor_share)))


def dci(z: np.ndarray, factors: np.ndarray, z_test: np.ndarray, factors_test: np.ndarray, seed: int = 0,
        classifier: Callable = dci_classifier) -> dict:
    """{"disentanglement", "completeness", "informativeness_train", "informativeness_test", "importance"}:
    informativeness is the mean classification accuracy over factors, as in disentanglement_lib."""
    importance, train, test = importance_matrix(z, factors, z_test, factors_test, seed, classifier)
    d, c = dci_from_importance(importance)
    return {"disentanglement": d, "completeness": c, "informativeness_train": float(train.mean()),
            "informativeness_test": float(test.mean()), "importance": importance.tolist()}


# ---------------------------------------------------------------- all five
def scores(codes_of: CodeFn, sizes: tuple[int, ...], seed: int = 0, samples: Samples | None = None,
           log: Callable[[str], None] | None = None) -> dict:
    """The five scores of the representation `codes_of` on the ground truth with factor `sizes`.

    Each score draws from its own stream of `np.random.SeedSequence(seed)` (beta-VAE, FactorVAE, and one
    train + test draw shared by MIG, SAP and DCI), so changing one score's sample counts leaves the others'
    draws alone. `log` receives one line per score with its time."""
    samples = samples or Samples()
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]
    seeds = [int(r.integers(2**31)) for r in streams[:2]]
    out: dict = {"seed": seed, "samples": asdict(samples), "factor_sizes": list(sizes), "seconds": {}}

    def timed(name: str, fn: Callable[[], dict]) -> dict:
        t0 = time.perf_counter()
        value = fn()
        out["seconds"][name] = round(time.perf_counter() - t0, 2)
        if log:
            log(f"disentanglement: {name} done in {out['seconds'][name]:.1f} s")
        return value

    s = samples
    out["beta_vae"] = timed("beta_vae", lambda: beta_vae_score(codes_of, sizes, seeds[0], s.beta_vae_batch,
                                                               s.beta_vae_train, s.beta_vae_eval))
    out["factor_vae"] = timed("factor_vae", lambda: factor_vae_score(
        codes_of, sizes, seeds[1], s.factor_vae_batch, s.factor_vae_train, s.factor_vae_eval, s.factor_vae_variance))
    train = timed("draws", lambda: draw(codes_of, sizes, s.train, streams[2]))
    test = timed("test draws", lambda: draw(codes_of, sizes, s.test, streams[2]))
    out["mig"] = timed("mig", lambda: mig(*train))
    out["sap"] = timed("sap", lambda: sap(*train, *test))
    out["dci"] = timed("dci", lambda: dci(*train, *test, seed=seed))
    return out
