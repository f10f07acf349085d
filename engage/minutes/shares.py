"""A minute's emotion shares corrected for the classifier's confusions, and how sure they are (90% intervals).

Averaging a classifier's probabilities carries its confusions into the shares: the shipped model's mean
probability on FER2013 PrivateTest is 22% neutral where 17% of the faces are, and 10% fear against 15%. This
is the quantification problem. engage corrects a minute with a Bayesian version of the EM prior adjustment of
Saerens, Latinne & Decaestecker (2002), on probabilities recalibrated with bias-corrected temperature scaling
(Alexandari, Kundaje & Shrikumar, ICML 2020), both measured on PublicTest and stored beside the model
(``ShareCalibration``, key ``shares`` of ``models/engage-emotion.json``):

- each face's recalibrated probabilities divided by the PublicTest class shares are its likelihood under each
  emotion; the minute's mix gets a Dirichlet(0.5) prior;
- a Gibbs sampler alternates each face's emotion given the mix and the mix given the faces' emotions;
- the corrected share is the posterior mean of the share of *these faces* showing each emotion; its 90%
  interval is where the class's mix at that minute lies (5% and 95% posterior quantiles), so one face
  gives a wide interval, not a confident number;
- faces are not independent readings: one frame shares a joke and a light (the design effect between frames,
  ``design_effect``), and one person seen at the same place in frame after frame is one person
  (engage.attention.tracking). The faces count in the posterior as ``effective_faces``: the faces over the design
  effect, at most the number of places.

``benchmarks/minute_shares.py`` chose this over probability averaging, classify-and-count, adjusted and
probabilistic-adjusted classify-and-count and plain EM; those are here too, for it. The engagement index
keeps its definition; ``mean_interval`` gives its 90% interval from its spread over the effective faces.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engage.emotions import EMOTIONS
from engage.errors import EngageError
from engage.vision.classifier import DEFAULT_MODEL, model_info_path

K = len(EMOTIONS)
LEVEL = 0.9  # the intervals' coverage
PRIOR_CONCENTRATION = 0.5  # Dirichlet(0.5, ..., 0.5) prior on a minute's mix (Jeffreys)
DRAWS = 2000  # posterior draws kept per minute, over all chains (fewer for a crowded minute, see WORK)
BURN_IN = 30  # steps of each chain discarded first
MAX_CHAINS = 32  # chains run side by side: one numpy step moves them all, so small minutes get many draws cheaply
CHAIN_FACES = 8000  # at most this many chains x faces
WORK = 500_000  # at most about this many chains x faces x steps (a minute of 1,800 faces: ~280 steps, ~25 ms)
ENGAGEMENT_SPREAD = 0.15  # the engagement index's spread between faces (its standard deviation on FER2013) ...
PRIOR_FACES = 2  # ... that the engagement interval assumes as this many faces' worth before seeing any
INFO_KEY = "shares"  # the key of the model info JSON that holds a ShareCalibration


@dataclass(frozen=True)
class ShareCalibration:
    """What a model does on labelled faces (PublicTest), as share correction needs it.

    ``prior``: the class shares of those faces; ``bias``: per-class offsets added to the log-probabilities
    that make them calibrated per class; ``confusion[i, j]``: P(top label j | true class i);
    ``mean_probability[i, j]``: the mean probability of j over faces of class i.
    """

    prior: np.ndarray
    bias: np.ndarray
    confusion: np.ndarray
    mean_probability: np.ndarray
    faces: int
    fitted_on: str = "FER2013 PublicTest"

    def __post_init__(self) -> None:
        for name, shape in (("prior", (K,)), ("bias", (K,)), ("confusion", (K, K)), ("mean_probability", (K, K))):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != shape or not np.isfinite(value).all():
                raise ValueError(f"{name} must be {shape} finite numbers, not {value.shape}")
            object.__setattr__(self, name, value)
        if (self.prior <= 0).any():
            raise ValueError("every class needs a positive prior share")

    def likelihood(self, probabilities: np.ndarray) -> np.ndarray:
        """Each face's likelihood under each emotion, up to a factor per face: recalibrated probability / prior."""
        logits = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1.0)) + self.bias
        logits -= np.log(self.prior)
        logits -= logits.max(axis=1, keepdims=True)
        return np.exp(logits)

    def recalibrated(self, probabilities: np.ndarray) -> np.ndarray:
        """The probabilities with the per-class bias applied (rows sum to 1)."""
        scores = self.likelihood(probabilities) * self.prior
        return scores / scores.sum(axis=1, keepdims=True)

    def to_info(self) -> dict[str, Any]:
        """JSON-ready values (rounded: six places are far below what PublicTest can measure)."""
        return {
            "fitted_on": self.fitted_on,
            "faces": int(self.faces),
            "labels": list(EMOTIONS),
            "prior": _rounded(self.prior),
            "bias": _rounded(self.bias),
            "confusion": _rounded(self.confusion),
            "mean_probability": _rounded(self.mean_probability),
            "method": "bayesian-em",
        }

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> ShareCalibration:
        """The calibration from ``to_info``'s dict; ValueError if it is not one (or has other labels)."""
        if list(info.get("labels", EMOTIONS)) != list(EMOTIONS):
            raise ValueError(f"labels {info.get('labels')} are not {list(EMOTIONS)}")
        try:
            return cls(
                prior=np.array(info["prior"], dtype=np.float64),
                bias=np.array(info["bias"], dtype=np.float64),
                confusion=np.array(info["confusion"], dtype=np.float64),
                mean_probability=np.array(info["mean_probability"], dtype=np.float64),
                faces=int(info.get("faces", 0)),
                fitted_on=str(info.get("fitted_on", "")),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a share calibration ({exc})") from None


def _rounded(values: np.ndarray) -> list:
    return np.round(values, 6).tolist()


def load_share_calibration(model_path: Path | str | None = None) -> ShareCalibration | None:
    """The share calibration stored beside a model (None when its info file has none: corrected shares stay empty)."""
    info_path = model_info_path(Path(model_path) if model_path else DEFAULT_MODEL)
    if not info_path.is_file():
        return None
    try:
        info = json.loads(info_path.read_text())
        shares = info.get(INFO_KEY) if isinstance(info, dict) else None
        return None if shares is None else ShareCalibration.from_info(shares)
    except (ValueError, OSError, AttributeError) as exc:
        raise EngageError(f"unreadable share calibration in {info_path}: {exc}") from None


# ------------------------------------------------------------------------------------- simple estimators


def probability_average(probabilities: np.ndarray) -> np.ndarray:
    """The mean probability of each emotion (the raw ``mean_<emotion>``)."""
    return np.asarray(probabilities, dtype=np.float64).mean(axis=0)


def classify_and_count(probabilities: np.ndarray) -> np.ndarray:
    """The share of faces whose top label is each emotion (the raw ``share_<emotion>``)."""
    return np.bincount(np.asarray(probabilities).argmax(axis=1), minlength=K) / len(probabilities)


def project_to_simplex(values: np.ndarray) -> np.ndarray:
    """The nearest points (rows) with non-negative entries summing to 1 (Euclidean projection)."""
    v = np.atleast_2d(np.asarray(values, dtype=np.float64))
    ordered = -np.sort(-v, axis=1)
    cumulative = np.cumsum(ordered, axis=1) - 1.0
    steps = np.arange(1, v.shape[1] + 1)
    last = (ordered - cumulative / steps > 0).cumsum(axis=1).argmax(axis=1)
    threshold = cumulative[np.arange(len(v)), last] / (last + 1)
    return np.maximum(v - threshold[:, None], 0.0)


def simplex_least_squares(matrix: np.ndarray, observed: np.ndarray, iterations: int = 500) -> np.ndarray:
    """The shares s on the simplex that minimise |matrix.T @ s - observed| (accelerated projected gradient).

    ``observed`` may be one vector or rows of them (one problem per row; the answer has the same shape).
    """
    a = np.asarray(matrix, dtype=np.float64).T
    step = 1.0 / max(np.linalg.norm(a, 2) ** 2, 1e-12)
    target = np.atleast_2d(np.asarray(observed, dtype=np.float64))
    shares = previous = np.full(target.shape, 1.0 / K)
    momentum = 1.0
    for _ in range(iterations):
        following = (1 + math.sqrt(1 + 4 * momentum**2)) / 2
        point = shares + (momentum - 1) / following * (shares - previous)
        previous, momentum = shares, following
        shares = project_to_simplex(point - step * (point @ a.T - target) @ a)
    return shares.reshape(np.shape(observed))


def adjusted_count(probabilities: np.ndarray, calibration: ShareCalibration) -> np.ndarray:
    """Adjusted classify-and-count (ACC): the mix whose expected top-label shares match the observed ones."""
    return simplex_least_squares(calibration.confusion, classify_and_count(probabilities))


def probabilistic_adjusted_count(probabilities: np.ndarray, calibration: ShareCalibration) -> np.ndarray:
    """Probabilistic ACC (PACC): the mix whose expected mean probabilities match the observed ones."""
    return simplex_least_squares(calibration.mean_probability, probability_average(probabilities))


def em_shares(probabilities: np.ndarray, calibration: ShareCalibration, iterations: int = 1000) -> np.ndarray:
    """Saerens-Latinne-Decaestecker EM (maximum likelihood mix) on the recalibrated probabilities."""
    likelihood = calibration.likelihood(probabilities)
    mix = calibration.prior.copy()
    for _ in range(iterations):
        weights = likelihood * mix
        weights /= weights.sum(axis=1, keepdims=True)
        new = weights.mean(axis=0)
        if np.abs(new - mix).max() < 1e-8:
            return new
        mix = new
    return mix


# ----------------------------------------------------------------------------------- the chosen method


@dataclass(frozen=True)
class ShareEstimate:
    """A minute's corrected shares (sum 1) and their 90% intervals, in EMOTIONS order."""

    shares: np.ndarray
    low: np.ndarray
    high: np.ndarray
    effective_faces: float  # faces divided by the design effect (frames, places)


Units = Sequence[Sequence[int] | np.ndarray]  # groupings of a minute's faces: a unit label per face, per grouping


def design_effect(values: np.ndarray, units: Units = ()) -> float:
    """How much more a mean over faces varies when whole units, not faces, are the independent readings (>= 1).

    Each grouping in ``units`` gives every face a unit label (for a minute: its frame).
    For each, Kish's design effect: the variance of the mean of ``values`` (N, D) between units over its
    variance between faces, summed over the D columns, at most the mean faces per unit. The largest wins; 1
    without groupings, with one unit or with every face its own unit.
    """
    x = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    n = len(x)
    found = 1.0
    if n < 2:
        return found
    centred = x - x.mean(axis=0)
    between_faces = (centred**2).sum() * n / (n - 1)
    for labels in units:
        labels = np.unique(np.asarray(labels), return_inverse=True)[1].ravel()
        if len(labels) != n:
            raise ValueError(f"a grouping labels {len(labels)} faces, not {n}")
        count = int(labels.max()) + 1
        if count < 2 or count == n:
            continue
        if between_faces <= 0:  # every face reads the same: nothing shows they are independent, so assume not
            found = max(found, n / count)
            continue
        totals = np.stack([np.bincount(labels, weights=column, minlength=count) for column in centred.T], axis=1)
        between_units = (totals**2).sum() * count / (count - 1)
        # The ratio is itself noisy (relative standard error about sqrt(2 / (units - 1))): only what exceeds
        # that noise counts, or independent faces would get wider intervals than they should on average.
        excess = between_units / between_faces - 1.0 - math.sqrt(2.0 / (count - 1))
        found = max(found, min(1.0 + excess, n / count))
    return float(found)


def effective_faces(values: np.ndarray, units: Units = (), places: Sequence[int] | np.ndarray | None = None) -> float:
    """How many independent readings a minute's faces are worth: the faces over the design effect of ``units``,
    and never more than the number of distinct ``places`` (engage.attention.tracking: a person seen in 60 frames is one
    person, however alike the two people of a minute read, and the model's mistake on a face tends to stay)."""
    found = len(values) / design_effect(values, units)
    if places is not None and len(values):
        found = min(found, float(len(np.unique(np.asarray(places)))))
    return found


def corrected_shares(
    probabilities: np.ndarray,
    calibration: ShareCalibration,
    units: Units = (),
    places: Sequence[int] | np.ndarray | None = None,
    *,
    seed: int | Sequence[int] = 0,
    level: float = LEVEL,
    draws: int = DRAWS,
    burn_in: int = BURN_IN,
    concentration: float = PRIOR_CONCENTRATION,
) -> ShareEstimate:
    """The corrected shares of a minute's faces ((N, 7) probabilities, N >= 1) and their intervals.

    ``units`` (frames) and ``places``: see ``effective_faces``; the faces count in the posterior as that many
    readings. The same input and seed give the same result. ``draws`` posterior draws are kept, from chains run
    side by side (fewer for many faces, whose posterior is narrow). See the module docstring for the method.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != K or len(p) == 0:
        raise ValueError(f"need (N >= 1, {K}) probabilities, not {p.shape}")
    n = len(p)
    weight = effective_faces(p, units, places) / n
    likelihood = calibration.likelihood(p).T.astype(np.float32)  # (K, N): each step runs along the faces
    chains = int(np.clip(CHAIN_FACES // n, 1, MAX_CHAINS))
    # A crowded minute's posterior is narrow: fewer draws describe it well enough, and keep its cost bounded.
    steps = min(math.ceil(draws / chains), max(100, WORK // (chains * n) - burn_in))
    rng = np.random.default_rng(seed)
    mix = rng.dirichlet(np.ones(K), size=chains)  # (chains, K), spread out to start
    kept = np.empty((steps, chains, K))
    seen = np.zeros(K)
    cumulative = np.empty((chains, K, n), np.float32)  # single precision: half the memory traffic, ample here
    uniform = np.empty((chains, 1, n), np.float32)
    for step in range(burn_in + steps):
        # Each face's emotion given the mix, by inverse CDF: cumulative[c, k, i] = sum of mix[c, j] L[j, i], j <= k.
        np.multiply(likelihood, mix[:, :, None].astype(np.float32), out=cumulative)
        for k in range(1, K):
            np.add(cumulative[:, k - 1], cumulative[:, k], out=cumulative[:, k])
        total = cumulative[:, -1:]
        if step >= burn_in:  # Rao-Blackwellised: the expected share of these faces given the mix
            expected = np.einsum("ckn,cn->k", cumulative, 1.0 / total[:, 0], dtype=np.float64)
            seen += np.diff(expected, prepend=0.0)
        rng.random(out=uniform, dtype=np.float32)
        uniform *= total
        beyond = np.count_nonzero(cumulative < uniform, axis=2)  # faces whose emotion comes after k
        counts = -np.diff(beyond, prepend=n, axis=1)
        gamma = rng.standard_gamma(concentration + weight * counts)  # a Dirichlet draw per chain
        total_gamma = gamma.sum(axis=1, keepdims=True)
        mix = np.where(total_gamma > 0, gamma / np.where(total_gamma > 0, total_gamma, 1.0), 1.0 / K)
        if step >= burn_in:
            kept[step - burn_in] = mix
    shares = seen / seen.sum()
    tail = (1.0 - level) / 2
    low, high = np.quantile(kept.reshape(-1, K), [tail, 1.0 - tail], axis=0)
    return ShareEstimate(
        shares=shares,
        low=np.clip(np.minimum(low, shares), 0.0, 1.0),
        high=np.clip(np.maximum(high, shares), 0.0, 1.0),
        effective_faces=n * weight,
    )


def mean_interval(
    values: np.ndarray,
    units: Units = (),
    places: Sequence[int] | np.ndarray | None = None,
    level: float = LEVEL,
    bounds: tuple[float, float] = (0.0, 1.0),
    spread: float = ENGAGEMENT_SPREAD,
) -> tuple[float, float]:
    """A ``level`` interval for the class's mean of per-face ``values`` (Student t on the effective faces).

    The faces' variance is pooled with ``PRIOR_FACES`` pseudo-faces of standard deviation ``spread`` (a
    conjugate normal prior), so a single face or identical readings give a wide interval, not a zero-width one.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    n = len(x)
    if n == 0:
        return bounds
    effective = effective_faces(x, units, places)
    squares = float(((x - x.mean()) ** 2).sum()) * effective / n  # each effective face's share of the spread
    df = PRIOR_FACES + effective - 1
    variance = (PRIOR_FACES * spread**2 + squares) / df
    half = _t_quantile(1.0 - (1.0 - level) / 2, df) * math.sqrt(variance / effective)
    mean = float(x.mean())
    return max(bounds[0], mean - half), min(bounds[1], mean + half)


def _t_quantile(q: float, df: float) -> float:
    """Student's t quantile (Hill 1970's approximation via the normal quantile; exact enough for intervals)."""
    z = _normal_quantile(q)
    if df > 1e6:
        return z
    if df < 2:  # one degree of freedom (Cauchy); conservative between 1 and 2
        return math.tan(math.pi * (q - 0.5))
    if df < 2.5:  # two degrees of freedom, exactly
        tail = 2 * (1 - q)
        return math.sqrt(2 / (tail * (2 - tail)) - 2)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def _normal_quantile(q: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(q)
