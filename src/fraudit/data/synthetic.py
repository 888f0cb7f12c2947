"""A calibrated synthetic stand-in for creditcard.csv, for when no real file is present.

Calibration targets are the published per-class statistics of the ULB dataset
(`ulb_class_stats.csv`, shipped with the package, plus the quantiles and tail facts in
`PUBLISHED_AMOUNT`, `PUBLISHED_KURTOSIS`). Per class:
- V1..V28: mean + std * s, where s is a unit-variance Gaussian scale mixture whose excess
  kurtosis is set per feature (real PCA components are heavy-tailed; plain Gaussians are
  not). Some frauds are drawn like genuine rows (real fraud often looks normal); the others
  share a latent "how fraudulent" factor, so their strong features move together as in the
  real data. Each class's sample is standardised to the published moments, so even the
  ~0.17% fraud class lands on them.
- Amount: quantile function through the published quartiles (log-linear between them),
  with a truncated Pareto tail above Q3 whose index and cap are solved so the mean and std
  match. Drawn by stratified sampling so quartiles hold in small samples.
- Time: a day/night cosine intensity over two days, its amplitude and phase solved per
  class to match the published mean and std.
The rows come out sorted by Time, like the real file. Same seed, same rows.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from fraudit.data.creditcard import COLUMNS, Dataset
from fraudit.ulb_vector import ULB_COLUMNS

TWO_DAYS_SECONDS = 172_792.0
DAY_SECONDS = 86_400.0
DEFAULT_FRAUD_RATE = 492 / 284_807  # 0.17275%

# Published facts about the real dataset (dataset/README.md says where they come from); numbers,
# not code, taken from public notebooks.
PUBLISHED_AMOUNT: dict[int, dict[str, float]] = {
    0: {"q1": 5.65, "median": 22.0, "q3": 77.05, "max": 25691.16},
    1: {"q1": 1.0, "median": 9.25, "q3": 105.89, "max": 2125.87},
}
# Whole-dataset excess kurtosis where published; the rest get DEFAULT_GENUINE_KURTOSIS.
PUBLISHED_KURTOSIS: dict[str, float] = {"V28": 933.4, "V23": 440.1, "V7": 405.6}
DEFAULT_GENUINE_KURTOSIS = 20.0
KURTOSIS_CAP = 60.0  # beyond this a finite sample's kurtosis is too erratic to calibrate to
FRAUD_KURTOSIS = 4.0
FRAUD_FACTOR_LOADING = 0.6
# Share of frauds drawn like genuine rows. Chosen so a classifier trained on synthetic data
# lands near the AUPRC published for the real data (~0.85), not at a meaningless 1.0.
FRAUD_CAMOUFLAGED_SHARE = 0.15


@dataclass(frozen=True)
class ClassStats:
    mean: dict[str, float]
    std: dict[str, float]


def load_class_stats(path: Path | None = None) -> dict[int, ClassStats]:
    """Per-class mean/std of every column from a `feature,mean_c0,std_c0,mean_c1,std_c1` CSV."""
    if path is None:
        text = resources.files("fraudit.data").joinpath("ulb_class_stats.csv").read_text()
    else:
        text = Path(path).read_text()
    rows = list(csv.DictReader(text.splitlines()))
    stats = {
        c: ClassStats(
            mean={r["feature"]: float(r[f"mean_c{c}"]) for r in rows},
            std={r["feature"]: float(r[f"std_c{c}"]) for r in rows},
        )
        for c in (0, 1)
    }
    missing = set(ULB_COLUMNS) - set(stats[0].mean)
    if missing:
        raise ValueError(f"class statistics lack {sorted(missing)}")
    return stats


# ---------------------------------------------------------------------------------- tails


def scale_mixture_params(excess_kurtosis: float) -> tuple[float, float, float]:
    """(p, big, small) variances of a two-scale Gaussian mixture with unit variance and the
    given excess kurtosis: with probability p the variance is `big`, else `small`."""
    target = (excess_kurtosis + 3.0) / 3.0  # E[v^2] / E[v]^2 with E[v] = 1
    p = 0.002 if excess_kurtosis > 10 else 0.05
    big = 1.0 + np.sqrt((1.0 - p) * (target - 1.0) / p)
    if p * big >= 1.0:
        raise ValueError(f"kurtosis {excess_kurtosis} too large for mixture weight {p}")
    small = (1.0 - p * big) / (1.0 - p)
    return p, float(big), float(small)


def _heavy_tailed(rng: np.random.Generator, n: int, excess_kurtosis: float) -> np.ndarray:
    p, big, small = scale_mixture_params(excess_kurtosis)
    variance = np.where(rng.random(n) < p, big, small)
    return rng.standard_normal(n) * np.sqrt(variance)


def _standardise(values: np.ndarray) -> np.ndarray:
    centred = values - values.mean(axis=0)
    return centred / centred.std(axis=0)


# --------------------------------------------------------------------------------- amount


def _amount_quantile(u: np.ndarray, q: dict[str, float], alpha: float, cap: float) -> np.ndarray:
    knots = np.log1p([0.0, q["q1"], q["median"], q["q3"]])
    out = np.expm1(np.interp(np.minimum(u, 0.75), [0.0, 0.25, 0.5, 0.75], knots))
    upper = u > 0.75
    v = (u[upper] - 0.75) / 0.25
    ratio = (q["q3"] / cap) ** alpha
    out[upper] = q["q3"] * (1.0 - v * (1.0 - ratio)) ** (-1.0 / alpha)
    return out


@lru_cache(maxsize=4)
def fit_amount_tail(label: int, mean: float, std: float) -> tuple[float, float]:
    """(alpha, cap) of the Pareto tail so that the class's Amount mean and std match."""
    q = PUBLISHED_AMOUNT[label]
    grid = (np.arange(20_000) + 0.5) / 20_000
    best: tuple[float, float, float] | None = None
    for cap in np.geomspace(q["q3"] * 5, q["max"], 48):
        lo, hi = 0.05, 10.0
        for _ in range(50):  # the mean falls as alpha grows: bisect for the published mean
            alpha = (lo + hi) / 2
            if _amount_quantile(grid, q, alpha, cap).mean() > mean:
                lo = alpha
            else:
                hi = alpha
        error = abs(_amount_quantile(grid, q, alpha, cap).std() / std - 1.0)
        if best is None or error < best[0]:
            best = (error, float(alpha), float(cap))
    assert best is not None
    return best[1], best[2]


def _stratified_uniform(rng: np.random.Generator, n: int) -> np.ndarray:
    return (rng.permutation(n) + rng.random(n)) / n


# ----------------------------------------------------------------------------------- time


@lru_cache(maxsize=4)
def fit_time_intensity(mean: float, std: float) -> tuple[float, float]:
    """(amplitude, phase) of 1 + a*cos(2*pi*(t - phase)/day) over two days matching mean/std."""
    grid = (np.arange(2_880) + 0.5) * TWO_DAYS_SECONDS / 2_880
    phases = np.linspace(0.0, DAY_SECONDS, 289)[:, None]
    best: tuple[float, float, float] | None = None
    for amplitude in np.linspace(0.0, 0.99, 100):
        weights = 1.0 + amplitude * np.cos(2 * np.pi * (grid[None, :] - phases) / DAY_SECONDS)
        weights /= weights.sum(axis=1, keepdims=True)
        m = weights @ grid
        s = np.sqrt((weights * (grid[None, :] - m[:, None]) ** 2).sum(axis=1))
        error = np.abs(m - mean) / std + np.abs(s / std - 1.0)
        i = int(error.argmin())
        if best is None or error[i] < best[0]:
            best = (float(error[i]), float(amplitude), float(phases[i, 0]))
    assert best is not None
    return best[1], best[2]


def _sample_times(rng: np.random.Generator, n: int, amplitude: float, phase: float) -> np.ndarray:
    grid = np.linspace(0.0, TWO_DAYS_SECONDS, 17_281)
    density = 1.0 + amplitude * np.cos(2 * np.pi * (grid - phase) / DAY_SECONDS)
    cdf = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2)])
    cdf /= cdf[-1]
    # Whole seconds, like the real file.
    return np.floor(np.interp(_stratified_uniform(rng, n), cdf, grid))


# ------------------------------------------------------------------------------- generate


class SyntheticCreditCard:
    """Generator of creditcard.csv-shaped data calibrated to published class statistics."""

    def __init__(
        self, stats: dict[int, ClassStats] | None = None, fraud_rate: float = DEFAULT_FRAUD_RATE
    ) -> None:
        if not 0 < fraud_rate < 0.5:
            raise ValueError("fraud_rate must be in (0, 0.5)")
        self.stats = stats or load_class_stats()
        self.fraud_rate = fraud_rate

    @staticmethod
    def _genuine_shocks(rng: np.random.Generator, n: int) -> np.ndarray:
        return np.column_stack(
            [
                _heavy_tailed(
                    rng,
                    n,
                    min(PUBLISHED_KURTOSIS.get(name, DEFAULT_GENUINE_KURTOSIS), KURTOSIS_CAP),
                )
                for name in ULB_COLUMNS[1:-1]
            ]
        )

    def _fraud_features(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """V1..V28 of frauds: a share drawn like genuine rows (fraud that looks normal in
        every feature at once, which is what keeps real-data AUPRC near 0.85), the rest
        "overt", with one latent severity loaded along each feature's fraud direction. The
        overt part's mean and std are solved so that the mixture has the published class
        moments; the block is then standardised onto them exactly."""
        v_names = ULB_COLUMNS[1:-1]
        g, f = self.stats[0], self.stats[1]
        m0 = np.array([g.mean[v] for v in v_names])
        s0 = np.array([g.std[v] for v in v_names])
        m1 = np.array([f.mean[v] for v in v_names])
        s1 = np.array([f.std[v] for v in v_names])
        q = FRAUD_CAMOUFLAGED_SHARE
        overt_mean = (m1 - q * m0) / (1 - q)
        overt_var = (s1**2 - q * (s0**2 + (m0 - m1) ** 2)) / (1 - q) - (overt_mean - m1) ** 2
        overt_std = np.sqrt(np.maximum(overt_var, 0.05 * s1**2))

        camouflaged = rng.random(n) < q
        severity = rng.standard_normal(n)
        direction = np.sign(m1 - m0)
        own = np.column_stack([_heavy_tailed(rng, n, FRAUD_KURTOSIS) for _ in v_names])
        load = FRAUD_FACTOR_LOADING
        overt = load * severity[:, None] * direction + np.sqrt(1 - load**2) * own
        block = np.where(
            camouflaged[:, None],
            m0 + s0 * self._genuine_shocks(rng, n),
            overt_mean + overt_std * overt,
        )
        if n <= 2:
            return block
        return m1 + s1 * _standardise(block)

    def _class_block(self, rng: np.random.Generator, label: int, n: int) -> np.ndarray:
        stats = self.stats[label]
        if label == 0:
            v_names = ULB_COLUMNS[1:-1]
            shocks = self._genuine_shocks(rng, n)
            v_block = np.array([stats.mean[v] for v in v_names]) + np.array(
                [stats.std[v] for v in v_names]
            ) * (_standardise(shocks) if n > 2 else shocks)
        else:
            v_block = self._fraud_features(rng, n)

        alpha, cap = fit_amount_tail(label, stats.mean["Amount"], stats.std["Amount"])
        amount = np.round(
            _amount_quantile(_stratified_uniform(rng, n), PUBLISHED_AMOUNT[label], alpha, cap), 2
        )
        amplitude, phase = fit_time_intensity(stats.mean["Time"], stats.std["Time"])
        time = _sample_times(rng, n, amplitude, phase)
        return np.column_stack([time, v_block, amount])

    def generate(self, n_rows: int, seed: int = 42) -> Dataset:
        if n_rows < 2:
            raise ValueError("n_rows must be at least 2")
        rng = np.random.default_rng(seed)
        n_fraud = max(1, round(n_rows * self.fraud_rate))
        blocks = [self._class_block(rng, 0, n_rows - n_fraud), self._class_block(rng, 1, n_fraud)]
        X = np.concatenate(blocks)
        y = np.concatenate([np.zeros(n_rows - n_fraud, np.int8), np.ones(n_fraud, np.int8)])
        order = np.argsort(X[:, 0], kind="stable")
        return Dataset(X[order], y[order], f"synthetic(n={n_rows}, seed={seed})")


def write_csv(
    dataset: Dataset,
    path: str | Path,
    *,
    chunk_rows: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write in the real file's layout (header, Class as an integer)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(COLUMNS) + "\n")
        for start in range(0, dataset.n_rows, chunk_rows):
            X = dataset.X[start : start + chunk_rows]
            y = dataset.y[start : start + chunk_rows]
            lines = (
                ",".join(
                    [
                        f"{row[0]:.0f}",
                        *(repr(float(v)) for v in row[1:-1]),
                        f"{row[-1]:.2f}",
                        str(int(label)),
                    ]
                )
                for row, label in zip(X, y, strict=True)
            )
            handle.write("\n".join(lines) + "\n")
            if progress is not None:
                progress(min(start + chunk_rows, dataset.n_rows))
    tmp.replace(path)  # a crash never leaves a half-written file under the real name
    return path
