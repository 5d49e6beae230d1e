"""LIME (Ribeiro et al. 2016) on binary interpretable features, with the `lime` package's image defaults,
KernelSHAP (Lundberg & Lee 2017) on the same engine, and Gaussian LIME (Agarwal et al., ICML 2021).

LIME: Bernoulli(0.5) masks over grid patches or superpixels ("off" takes the baseline value), kernel
sqrt(exp(-D^2/width^2)) on the cosine distance D to the all-on mask, weighted ridge with an intercept;
the surrogate's weighted R^2 is reported as its fidelity. Gaussian LIME perturbs every input value with
N(0, sigma^2) noise and regresses the score on the noise (ordinary least squares with an intercept, or the
antithetic Stein estimator when there are too few samples for the dimension): in expectation both equal
SmoothGrad, the average gradient around x, with a standard error reported for every value; with an RBF
kernel on the noise they equal SmoothGrad at a smaller tau.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from auditor.errors import ArgumentError
from auditor.explain.attribution.baselines import Baseline, describe_baseline, resolve_baselines
from auditor.explain.attribution.core import (
    Attribution,
    Attributions,
    Features,
    Model,
    Perturbations,
    Score,
    Tally,
    Target,
    ablate_batch,
    batch_result,
    chunk_rows,
    features_of,
    inputs_of,
    resolve_target,
    resolve_targets,
    rng_of,
    score_kind,
    seed_of,
)
from auditor.explain.attribution.features import (
    FEATURES,
    as_window,
    expand_grid,
    grid_cells,
    grid_segments,
    group_labels,
    superpixels,
)

KERNELS = ("lime", "shap")
ESTIMATORS = ("auto", "ols", "stein")
OLS_MAX_DIM = 2048
CONSTRAINT_WEIGHT = 1e4
DEFAULT_SIGMA = 0.15
#: Multiply-adds per BLAS product below which BLAS libraries stay on one thread (OpenBLAS: 4 x 65536).
ONE_THREAD_PRODUCT = 1 << 18


def lime(
    model: Model,
    x: np.ndarray,
    *,
    target: Target = None,
    baseline: Baseline = "zero",
    samples: int = 1000,
    features: str | None = None,
    groups: np.ndarray | None = None,
    window: int | tuple[int, ...] | None = None,
    segments: int = 50,
    kernel: str = "lime",
    kernel_width: float = 0.25,
    alpha: float | None = None,
    score: str | None = None,
    contrast: int | None = None,
    reference: np.ndarray | None = None,
    rng: np.random.Generator | int = 0,
) -> Attribution | Attributions:
    """LIME map of `target`: every feature gets its interpretable feature's surrogate coefficient.

    Interpretable features: `features` ("grid" by default, or "superpixels"), or the caller's `groups`
    (ids as in `feature_ablation`). kernel="shap" is KernelSHAP. x of shape [N, *input] is a batch: one
    Attributions with a map per input, every input's coalitions drawn in turn from `rng`.
    """
    if groups is not None and features is not None:
        raise ArgumentError("give either groups or features (grid, superpixels), not both")
    features = "groups" if groups is not None else features or "grid"
    if features not in (*FEATURES, "groups"):
        raise ArgumentError(f"unknown features '{features}'; use one of {', '.join(FEATURES)}")
    if kernel not in KERNELS:
        raise ArgumentError(f"unknown kernel '{kernel}'; use one of {', '.join(KERNELS)}")
    if samples < 3:
        raise ArgumentError(f"LIME needs at least 3 samples, got {samples}")
    kind = score_kind(score, "probability", contrast)
    gen = rng_of(rng)
    tally = Tally(model, raw=kind == "raw")
    xs, batched = inputs_of(model, x)
    model_view = features_of(model)
    bases = resolve_baselines(baseline, xs, model_view, reference, gen)
    view, given = (
        group_labels(groups, model_view, len(xs)) if groups is not None else (model_view, [None] * len(xs))
    )
    cells = grid_cells(view, window) if features == "grid" else None
    plans, designs = [], []
    for row, base, own in zip(xs, bases, given):
        if own is not None:
            labels = np.unique(own, return_inverse=True)[1].reshape(-1)
        elif features == "grid":
            labels = grid_segments(view, window)
        else:
            labels = superpixels(row, view, segments, gen)
        on, weights = sample_coalitions(int(labels.max()) + 1, samples, kernel, kernel_width, gen)
        plans.append(Perturbations(row, base, coalition_keep(on, labels, cells), samples))
        designs.append((labels, on, weights))
    # with no coalition drawn twice, only rows 0 and 1 (x itself, the baseline) can repeat earlier queries:
    # hashing every row for the row cache would then cost more than it could save
    cached = None if batched or repeated_rows(designs[0][1]) else 2
    outputs = ablate_batch(tally, plans, cached, view)
    targets = resolve_targets([out[0] for out in outputs], target, contrast)
    penalty = alpha if alpha is not None else (1.0 if kernel == "lime" else 0.0)
    items = []
    for out, chosen, ids, (labels, on, weights) in zip(outputs, targets, given, designs):
        values = Score(kind, chosen, contrast)(out)
        ok = np.isfinite(values)
        # no copies when all are finite
        fit = (on, values, weights) if ok.all() else (on[ok], values[ok], weights[ok])
        coef, intercept, r2 = weighted_ridge(fit[0].astype(np.float64), fit[1], fit[2], penalty)
        settings: dict[str, object] = {
            "samples": samples,
            "features": features,
            "interpretable_features": len(coef),
            "kernel": kernel,
            "alpha": penalty,
            "baseline": describe_baseline(baseline),
            "seed": seed_of(rng),
            "score": kind,
            "groups": None if ids is None else ids.reshape(view.map_shape),
        }
        if features == "grid":
            settings["window"] = list(as_window(window, view))
        elif features == "superpixels":
            settings["segments"] = segments
        if kernel == "lime":
            settings["kernel_width"] = kernel_width
        items.append(
            Attribution(
                map=coef[labels].reshape(view.map_shape),
                method="lime" if kernel == "lime" else "kernel-shap",
                target=chosen,
                score=kind,
                contrast=contrast,
                settings=settings,
                queries=samples,
                calls=tally.calls,
                seconds=tally.seconds,
                score_input=float(values[0]),
                score_baseline=float(values[1]),
                total=float(coef.sum()),
                fidelity=r2,
                extra={
                    "segments": labels.reshape(view.map_shape),
                    "coefficients": coef,
                    "intercept": intercept,
                },
            )
        )
    return batch_result(items, tally, batched)


def coalition_keep(
    on: np.ndarray, labels: np.ndarray, cells: list[np.ndarray] | None
) -> Callable[[int, int], np.ndarray]:
    """Keep masks over features from coalitions over interpretable features (grid cells: by repeats)."""

    def keep(start: int, stop: int) -> np.ndarray:
        return on[start:stop][:, labels] if cells is None else expand_grid(on[start:stop], cells)

    return keep


def sample_coalitions(
    n_features: int, samples: int, kernel: str, width: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Masks (samples, S) of kept features and their regression weights; row 0 keeps everything, row 1 nothing.

    lime: Bernoulli(0.5) masks, weights sqrt(exp(-D^2/width^2)) with D the cosine distance to all-on.
    shap: coalition sizes drawn from the Shapley kernel, weight 1, plus all-on and all-off rows with large
    weights that stand in for KernelSHAP's two constraints.
    """
    if kernel == "lime":
        on = rng.integers(0, 2, size=(samples, n_features)).astype(bool)
        on[0], on[1] = True, False
        kept = on.sum(axis=1)
        distance = 1.0 - np.sqrt(kept / n_features)
        return on, np.sqrt(np.exp(-(distance**2) / width**2))
    sizes = np.arange(1, n_features)
    if len(sizes) == 0:
        raise ArgumentError("KernelSHAP needs at least two interpretable features")
    chance = (n_features - 1) / (sizes * (n_features - sizes))
    size = rng.choice(sizes, size=samples, p=chance / chance.sum())
    ranks = rng.random((samples, n_features)).argsort(axis=1).argsort(axis=1)
    on = ranks < size[:, None]
    on[0], on[1] = True, False
    weights = np.ones(samples)
    weights[:2] = CONSTRAINT_WEIGHT * samples
    return on, weights


def repeated_rows(on: np.ndarray) -> bool:
    """Whether two masks are equal (KernelSHAP on few features draws the same coalition again and again)."""
    packed = np.packbits(on, axis=1)
    return len(set(packed.view(f"V{packed.shape[1]}").ravel().tolist())) < len(on)


def weighted_ridge(
    design: np.ndarray, y: np.ndarray, weights: np.ndarray, alpha: float
) -> tuple[np.ndarray, float, float]:
    """Weighted ridge with an unpenalised intercept: (coefficients, intercept, weighted R^2)."""
    w = weights / weights.sum()
    mean_x = w @ design
    mean_y = float(w @ y)
    centred = design - mean_x
    weighted = centred * w[:, None]
    gram = small_gram(weighted, centred)
    gram[np.diag_indices_from(gram)] += alpha / weights.sum()
    rhs = np.einsum("ni,n->i", weighted, y - mean_y)
    # with a penalty the system is positive definite: an LU solve; without one it may be singular
    coef = np.linalg.solve(gram, rhs) if alpha > 0 else np.linalg.lstsq(gram, rhs, rcond=None)[0]
    fitted = mean_y + centred @ coef
    total = float(w @ (y - mean_y) ** 2)
    r2 = 1.0 - float(w @ (y - fitted) ** 2) / total if total > 0 else 1.0
    return coef, mean_y - float(mean_x @ coef), r2


def small_gram(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a.T @ b over blocks of rows small enough that BLAS runs each on one thread.

    OpenBLAS and MKL split a product over threads above about 2^18 multiply-adds; with numpy imported
    before auditor (so more than one BLAS thread), a split product waits whenever another process
    holds a core (measured 100x slower). Blocks stay under that size; 4x faster than einsum.
    """
    cols = a.shape[1] * b.shape[1]
    step = max(16, ONE_THREAD_PRODUCT // max(cols, 1))
    gram = a[:step].T @ b[:step]
    for start in range(step, len(a), step):
        gram += a[start : start + step].T @ b[start : start + step]
    return gram


def gaussian_lime(
    model: Model,
    x: np.ndarray,
    *,
    target: Target = None,
    samples: int = 1000,
    sigma: float | np.ndarray | None = None,
    estimator: str = "auto",
    kernel_width: float | None = None,
    score: str | None = None,
    contrast: int | None = None,
    reference: np.ndarray | None = None,
    rng: np.random.Generator | int = 0,
) -> Attribution | Attributions:
    """Gaussian LIME: the gradient of the score averaged over N(x, sigma^2 I), estimated from queries alone.

    sigma defaults to 0.15 of the value range (per column of `reference` for tables, else of x or the
    reference overall). `estimator`: "ols" (needs samples > d + 1), "stein" (antithetic pairs), "auto".
    `kernel_width` nu weights every sample by the RBF kernel exp(-|eps|^2 / (2 nu^2)): the estimate is then
    SmoothGrad at tau, the gradient averaged over N(x, tau^2 I) with 1/tau^2 = 1/sigma^2 + 1/nu^2 (Agarwal
    et al.); standard errors then treat the kernel weights as precision weights. A batch [N, *input] goes
    out as one stream of calls (every round holds a block of each input's draws; input 0 draws from `rng`
    as a single call would, input i > 0 from its own child stream `rng.spawn`), one Attributions with a
    map per input.
    """
    if estimator not in ESTIMATORS:
        raise ArgumentError(f"unknown estimator '{estimator}'; use one of {', '.join(ESTIMATORS)}")
    if kernel_width is not None and not (np.isfinite(kernel_width) and kernel_width > 0):
        raise ArgumentError(f"kernel_width must be positive and finite, got {kernel_width}")
    kind = score_kind(score, "log_probability", contrast)
    gen = rng_of(rng)
    tally = Tally(model, raw=kind == "raw")
    xs, batched = inputs_of(model, x)
    view = features_of(model)
    wanted = [target] * len(xs) if target is None or isinstance(target, int | np.integer) else list(target)
    if len(wanted) != len(xs):
        raise ArgumentError(
            f"{len(wanted)} targets given for {len(xs)} inputs; give one per input or one for all"
        )
    noise = Noise(samples, sigma, estimator, kernel_width, kind, contrast, seed_of(rng))
    streams = [gen, *gen.spawn(len(xs) - 1)]  # input i > 0 draws from its own child stream
    runs = [
        Smoothing(row, view, chosen, noise, reference, stream)
        for row, chosen, stream in zip(xs, wanted, streams)
    ]
    step = chunk_rows(tally.model, xs[0].size * 4)
    while active := [run for run in runs if not run.finished]:
        share = max(2, step // len(active))  # one round: every unfinished input's next block, one stream
        blocks = [run.block(share) for run in active]
        outputs = tally.predict(np.concatenate(blocks).astype(np.float32))
        for run, stop in zip(active, np.cumsum([len(b) for b in blocks])):
            run.take(outputs[stop - len(run.rows) : stop])
    items = [run.result(tally) for run in runs]
    return batch_result(items, tally, batched)


@dataclass(frozen=True)
class Noise:
    """What Gaussian LIME draws and fits for every input (see `gaussian_lime`)."""

    samples: int
    sigma: float | np.ndarray | None
    estimator: str
    kernel_width: float | None
    score: str
    contrast: int | None
    seed: int | None  # for the record


class Smoothing:
    """One input's Gaussian LIME under way (see `gaussian_lime`): it draws its noise in blocks from its own
    stream, takes the model's outputs for each block and fits once every draw is in."""

    def __init__(
        self,
        x: np.ndarray,
        view: Features,
        target: int | None,
        noise: Noise,
        reference: np.ndarray | None,
        gen: np.random.Generator,
    ) -> None:
        d = x.size
        samples, estimator = noise.samples, noise.estimator
        self.scale = noise_scale(x, noise.sigma, reference, per_column=not view.image).reshape(-1)
        if estimator == "auto":
            estimator = "ols" if samples >= 2 * (d + 1) and d <= OLS_MAX_DIM else "stein"
        if estimator == "ols" and (samples <= d + 1 or d > OLS_MAX_DIM):
            raise ArgumentError(
                f"least squares needs more samples than inputs + 1 ({d + 1}) and at most {OLS_MAX_DIM} inputs; "
                "use estimator='stein' or more samples"
            )
        if estimator == "stein" and samples < 4:
            raise ArgumentError(f"the Stein estimator needs at least 4 samples (2 pairs), got {samples}")
        width = noise.kernel_width
        # the kernel tilts N(0, sigma^2) into N(0, tau^2); Stein's identity then divides by tau^2
        self.tau2 = self.scale**2 if width is None else 1.0 / (1.0 / self.scale**2 + 1.0 / width**2)
        self.x, self.view, self.target, self.noise, self.gen = x, view, target, noise, gen
        self.estimator = estimator
        self.pairs = estimator == "stein"
        self.draws = samples // 2 if self.pairs else samples
        self.stats = Moments(d, view.index(), self.pairs)
        self.scorer: Score | None = None
        self.s0 = 0.0
        self.done = 0
        self.queries = 0
        self.eps = np.zeros((0, d))
        self.rows = np.zeros((0, *x.shape))

    @property
    def finished(self) -> bool:
        return self.done >= self.draws

    def block(self, share: int) -> np.ndarray:
        """The next rows to score, at most `share` of them: the input itself first, then x + eps (and x − eps)."""
        per = max(2, share // 2 if self.pairs else share)
        k = min(per - 1 if self.done == 0 else per, self.draws - self.done)
        d = self.x.size
        self.eps = self.gen.standard_normal((k, d)) * self.scale
        block = [self.x.reshape(1, d) + self.eps] + ([self.x.reshape(1, d) - self.eps] if self.pairs else [])
        if self.done == 0:
            block.insert(0, self.x.reshape(1, d))
        self.rows = np.concatenate(block).reshape(-1, *self.x.shape)
        return self.rows

    def take(self, outputs: np.ndarray) -> None:
        """The model's outputs for the last block, added to the running sums."""
        self.queries += len(outputs)
        if self.scorer is None:
            contrast = self.noise.contrast
            self.scorer = Score(self.noise.score, resolve_target(outputs[0], self.target, contrast), contrast)
            self.s0 = float(self.scorer(outputs[:1])[0])
            outputs = outputs[1:]
        values = self.scorer(outputs)
        k = len(self.eps)
        weights = rbf_weights(self.eps, self.scale, self.noise.kernel_width)
        self.stats.add(self.eps, values[:k], values[k:] if self.pairs else None, self.tau2, weights)
        self.done += k

    def result(self, tally: Tally) -> Attribution:
        """The fitted map, with the calls and time of the whole stream."""
        assert self.scorer is not None
        x, view, noise, scale = self.x, self.view, self.noise, self.scale
        gradient, stderr, map_stderr, r2 = self.stats.solve()
        settings: dict[str, object] = {
            "samples": noise.samples,
            "estimator": self.estimator,
            "sigma": float(scale.mean()) if np.ptp(scale) == 0 else scale.reshape(x.shape),
            "seed": noise.seed,
            "score": noise.score,
            "groups": None,  # every input value perturbed on its own
        }
        extra: dict[str, object] = {"gradient_stderr": stderr.reshape(x.shape), "used_samples": self.stats.n}
        if noise.kernel_width is not None:
            tau = np.sqrt(self.tau2)
            settings["kernel_width"] = noise.kernel_width
            settings["tau"] = float(tau.mean()) if np.ptp(tau) == 0 else tau.reshape(x.shape)
            extra["effective_samples"] = self.stats.effective
        return Attribution(
            map=view.to_map(gradient.reshape(x.shape)),
            method="gaussian-lime",
            target=self.scorer.target,
            score=self.scorer.kind,
            contrast=noise.contrast,
            settings=settings,
            queries=self.queries,
            calls=tally.calls,
            seconds=tally.seconds,
            score_input=self.s0,
            fidelity=r2,
            stderr=map_stderr.reshape(view.map_shape),
            gradient=gradient.reshape(x.shape),
            extra=extra,
        )


def rbf_weights(noise: np.ndarray, scale: np.ndarray, width: float | None) -> np.ndarray:
    """exp(-|eps|^2 / (2 nu^2)) per sample, divided by its value at the expected |eps|^2 (so it neither
    underflows nor overflows in high dimension; a common factor leaves every weighted fit unchanged)."""
    if width is None:
        return np.ones(len(noise))
    expected = float((scale**2).sum())
    return np.exp(-((noise**2).sum(axis=1) - expected) / (2 * width**2))


def noise_scale(
    x: np.ndarray, sigma: float | np.ndarray | None, reference: np.ndarray | None, *, per_column: bool
) -> np.ndarray:
    """Sigma for every input value: as given, else 0.15 of the value range (per column of a table's reference)."""
    if sigma is not None:
        try:
            scale = np.broadcast_to(np.asarray(sigma, dtype=np.float64), x.shape).copy()
        except ValueError:
            raise ArgumentError(
                f"sigma of shape {list(np.shape(sigma))} does not fit the input {list(x.shape)}"
            ) from None
    elif reference is not None and per_column:
        ref = np.asarray(reference, dtype=np.float64).reshape(-1, x.size)
        spread = ref.max(axis=0) - ref.min(axis=0)
        scale = DEFAULT_SIGMA * np.where(spread > 0, spread, 1.0).reshape(x.shape)
    else:
        values = x if reference is None else np.asarray(reference)
        spread = float(np.max(values) - np.min(values))
        scale = np.full(x.shape, DEFAULT_SIGMA * (spread if spread > 0 else 1.0))
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise ArgumentError("sigma must be positive and finite for every input value")
    return scale


class Moments:
    """Running weighted sums over the Gaussian samples, enough for the least-squares fit or the Stein average."""

    def __init__(self, d: int, index: np.ndarray, pairs: bool) -> None:
        self.index = index
        self.pairs = pairs
        self.n = 0
        self.w = 0.0  # sum of weights
        self.w2 = 0.0  # sum of squared weights
        if pairs:
            self.g = np.zeros(d)  # sum w g
            self.g1 = np.zeros(d)  # sum w^2 g
            self.g2 = np.zeros(d)  # sum w^2 g^2
            self.m = np.zeros(len(index))
            self.m1 = np.zeros(len(index))
            self.m2 = np.zeros(len(index))
        else:
            self.e = np.zeros(d)
            self.ee = np.zeros((d, d))
            self.ey = np.zeros(d)
            self.y = 0.0
            self.y2 = 0.0

    @property
    def effective(self) -> float:
        """Kish's effective sample size (sum w)^2 / sum w^2: n without a kernel, fewer with one."""
        return self.w**2 / self.w2 if self.w2 > 0 else 0.0

    def add(
        self,
        noise: np.ndarray,
        plus: np.ndarray,
        minus: np.ndarray | None,
        tau2: np.ndarray,
        weights: np.ndarray,
    ) -> None:
        ok = np.isfinite(plus) if minus is None else np.isfinite(plus) & np.isfinite(minus)
        noise, plus, weights = noise[ok], plus[ok], weights[ok]
        self.n += int(ok.sum())
        self.w += float(weights.sum())
        self.w2 += float(weights @ weights)
        if minus is None:
            weighted = noise * weights[:, None]
            self.e += weighted.sum(axis=0)
            self.ee += weighted.T @ noise
            self.ey += weighted.T @ plus
            self.y += float(weights @ plus)
            self.y2 += float(weights @ plus**2)
            return
        half = (plus - minus[ok]) / 2
        g = noise * half[:, None] / tau2
        by_feature = g[:, self.index].sum(axis=2)
        for total, first, second, values in (
            (self.g, self.g1, self.g2, g),
            (self.m, self.m1, self.m2, by_feature),
        ):
            total += weights @ values
            first += weights**2 @ values
            second += weights**2 @ values**2

    def solve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float | None]:
        """(gradient, its standard errors, standard errors of the per-feature sums, R^2 of the fit or None)."""
        n = self.n
        if self.pairs:
            if n < 2:
                raise ArgumentError(
                    "too few finite Gaussian samples to estimate a gradient; check the model's outputs"
                )
            grad, se = self._weighted_mean(self.g, self.g1, self.g2)
            _, se_map = self._weighted_mean(self.m, self.m1, self.m2)
            return grad, se, se_map, None
        d = len(self.e)
        if n <= d + 1:
            raise ArgumentError(
                "too few finite Gaussian samples for least squares; use more samples or 'stein'"
            )
        mean_e = self.e / self.w
        mean_y = self.y / self.w
        gram = self.ee - self.w * np.outer(mean_e, mean_e)
        cross = self.ey - self.w * mean_e * mean_y
        inverse = np.linalg.inv(gram)
        grad = inverse @ cross
        total = self.y2 - self.w * mean_y**2
        residual = max(total - float(grad @ cross), 0.0)
        s2 = residual / (n - d - 1)
        se = np.sqrt(np.maximum(np.diag(inverse), 0) * s2)
        idx = self.index
        se_map = np.sqrt(np.maximum(inverse[idx[:, :, None], idx[:, None, :]].sum(axis=(1, 2)), 0) * s2)
        return grad, se, se_map, (1.0 - residual / total if total > 0 else None)

    def _weighted_mean(
        self, total: np.ndarray, first: np.ndarray, second: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The weighted mean of per-sample values and its standard error, from their running sums
        (without weights: the sample mean and s / sqrt(n))."""
        n = self.n
        mean = total / self.w
        spread = second - 2 * mean * first + mean**2 * self.w2  # sum w^2 (v - mean)^2
        return mean, np.sqrt(np.maximum(spread, 0) * n / (n - 1)) / self.w
