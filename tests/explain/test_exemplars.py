"""Specification of auditor.explain.exemplars: class exemplars by zero-order search, batched in lockstep."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_factory import linear, save

from auditor.errors import ArgumentError, DataError
from auditor.explain.exemplars import DEFAULT_BUDGET, ExemplarParams, ExemplarSet, InputBox, exemplars
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.generator import Generator
from auditor.model.session import SessionSettings

# Batch size and threads given: no calibration runs; cache off where ORT calls are counted.
FAST = OpenOptions(device="cpu", batch_size=4096, threads=1)
UNCACHED = OpenOptions(device="cpu", batch_size=4096, threads=1, cache=False)
CPU = SessionSettings(device="cpu", threads=1)


def digits_models(folder, options: OpenOptions = FAST) -> tuple[BlackBox, Generator]:
    return BlackBox.open(folder / "classifier.onnx", options), Generator.open(folder / "generator.onnx", CPU)


@pytest.fixture(scope="module")
def digits(digits_dir) -> tuple[BlackBox, Generator]:
    return digits_models(digits_dir)


def pairwise(z: np.ndarray) -> np.ndarray:
    return np.linalg.norm(z[:, None] - z[None], axis=2)[np.triu_indices(len(z), 1)]


def tiny_models(tmp_path, options: OpenOptions = UNCACHED) -> tuple[BlackBox, Generator]:
    """A linear 'generator' z (4) -> x (6) and a linear 3-class classifier on x."""
    rng = np.random.default_rng(0)
    generator = linear(rng.normal(size=(4, 6)), np.zeros(6), input_name="code", output_name="x")
    classifier = linear(rng.normal(size=(6, 3)), rng.normal(size=3))
    return (
        BlackBox.open(save(classifier, tmp_path / "classifier.onnx"), options),
        Generator.open(save(generator, tmp_path / "generator.onnx"), CPU),
    )


# --------------------------------------------------------------------------- digits sample


@pytest.mark.parametrize(
    ("method", "objective", "threshold"),
    [
        ("momentum_es", "brier", 0.95),
        ("cmaes", "brier", 0.95),
        ("momentum_es", "brier", 0.9999),
        ("cmaes", "margin", 0.9999),
    ],
)
def test_every_digit_gets_a_confident_exemplar(digits, method: str, objective: str, threshold: float) -> None:
    blackbox, generator = digits
    result = exemplars(
        blackbox,
        generator,
        params=ExemplarParams(method=method, objective=objective, threshold=threshold),
        rng=0,
    )
    assert [c.target for c in result.classes] == list(range(10))
    for found in result.classes:
        (e,) = found.exemplars
        assert e.success and e.stop_reason == "target_reached" and e.confidence >= threshold
        assert e.queries <= DEFAULT_BUDGET and e.first_success_queries <= e.queries
        # the reported input is what the generator makes of the latent, and the model agrees on it
        np.testing.assert_allclose(e.input, generator.generate(e.latent[None])[0], atol=1e-6)
        probabilities = blackbox.predict(e.input[None])[0]
        np.testing.assert_allclose(probabilities, e.probabilities, atol=1e-6)
        assert probabilities.argmax() == found.target and e.confidence == e.probabilities[found.target]
    assert result.queries == sum(c.queries for c in result.classes)
    assert result.space == "latent" and result.success


@pytest.mark.parametrize("method", ["momentum_es", "cmaes", "random"])
def test_same_seed_gives_the_same_exemplars_bit_for_bit(digits_dir, method: str) -> None:
    def run(seed: int) -> ExemplarSet:
        blackbox, generator = digits_models(digits_dir)  # fresh sessions, empty row cache
        return exemplars(
            blackbox,
            generator,
            [2, 7],
            params=ExemplarParams(per_class=2, method=method, threshold=0.99),
            rng=seed,
        )

    first, again, other = run(5), run(5), run(6)
    for a, b in zip(first.classes, again.classes, strict=True):
        assert np.array_equal(a.latent, b.latent)
        assert np.array_equal(a.inputs, b.inputs)
        assert np.array_equal(a.probabilities, b.probabilities)
        assert [e.history for e in a.exemplars] == [e.history for e in b.exemplars]
        assert [e.queries for e in a.exemplars] == [e.queries for e in b.exemplars]
    assert not np.array_equal(first.classes[0].latent, other.classes[0].latent)


def test_a_targets_exemplar_does_not_depend_on_the_other_targets(digits) -> None:
    blackbox, generator = digits
    alone = exemplars(blackbox, generator, 7, params=ExemplarParams(per_class=2, threshold=0.99), rng=11)
    together = exemplars(
        blackbox, generator, [3, 7, 9], params=ExemplarParams(per_class=2, threshold=0.99), rng=11
    )
    assert np.array_equal(alone.classes[0].latent, together.classes[1].latent)


def test_restarts_keep_their_distance(digits) -> None:
    blackbox, generator = digits
    spread = exemplars(
        blackbox, generator, [0, 8], params=ExemplarParams(per_class=3, min_distance=5.0), rng=4
    )
    free = exemplars(blackbox, generator, [0, 8], params=ExemplarParams(per_class=3, min_distance=0.0), rng=4)
    for found in spread.classes:
        distances = pairwise(found.latent)
        assert all(e.success for e in found.exemplars)
        assert distances.min() >= 5.0
        assert found.min_distance == pytest.approx(distances.min())
        assert found.mean_distance == pytest.approx(distances.mean())
    # without the rule the same restarts come closer than that: the rule is what kept them apart
    assert min(pairwise(found.latent).min() for found in free.classes) < 5.0


def test_prior_penalty_keeps_latents_typical(digits) -> None:
    blackbox, generator = digits

    def mean_square(penalty: float) -> float:
        result = exemplars(
            blackbox, generator, params=ExemplarParams(threshold=0.99, prior_penalty=penalty), rng=0
        )
        assert result.success
        return float(np.mean([np.mean(c.latent**2) for c in result.classes]))

    assert mean_square(3.0) < 0.7 * mean_square(0.0)


def test_generator_that_does_not_fit_the_classifier_is_refused(digits, tmp_path) -> None:
    blackbox, _ = digits
    _, small = tiny_models(tmp_path)
    with pytest.raises(DataError, match="do not fit the classifier's input"):
        exemplars(blackbox, small, rng=0)


# --------------------------------------------------------------------------- lockstep batching


@pytest.mark.parametrize("method", ["momentum_es", "cmaes", "random"])
def test_lockstep_sends_one_batch_per_generation(tmp_path, method: str) -> None:
    blackbox, generator = tiny_models(tmp_path)
    generator_calls = generator.runner.calls  # its output-shape probe
    result = exemplars(
        blackbox, generator, params=ExemplarParams(per_class=2, method=method, threshold=0.999), rng=1
    )
    rounds = [[c.exemplars[r] for c in result.classes] for r in range(2)]
    generations = sum(max(len(e.history) for e in searches) for searches in rounds)
    assert blackbox.calls == generations == generator.runner.calls - generator_calls
    assert generations < sum(len(e.history) for searches in rounds for e in searches)  # really shared
    assert blackbox.queries == result.queries == generator.queries == result.generator_queries
    assert result.calls == blackbox.calls and 0 < result.ort_seconds < result.seconds


# --------------------------------------------------------------------------- tabular, no generator


def box_case(tmp_path, weight: float = 1.0) -> tuple[BlackBox, np.ndarray]:
    """A 2-class linear model on 5 features and reference rows; feature 3 never varies."""
    rng = np.random.default_rng(3)
    reference = rng.uniform([0, -1, 10, 2, 0], [1, 1, 20, 2, 5], size=(200, 5)).astype(np.float32)
    w = weight * np.array([[2.0, -2.0], [-1.0, 1.0], [0.5, -0.5], [3.0, 0.0], [-0.4, 0.4]])
    return BlackBox.open(save(linear(w, np.array([-8.0, 8.0])), tmp_path / "m.onnx"), UNCACHED), reference


def test_input_space_search_stays_inside_the_reference_box(tmp_path) -> None:
    blackbox, reference = box_case(tmp_path)
    result = exemplars(
        blackbox,
        None,
        reference=reference,
        params=ExemplarParams(per_class=2, threshold=0.99, method="cmaes"),
        rng=0,
    )
    box = InputBox.from_reference(reference)
    lower, upper = reference.min(axis=0), reference.max(axis=0)
    assert result.space == "input" and result.success
    for found in result.classes:
        rows = found.inputs
        assert (rows >= lower).all() and (rows <= upper).all()
        assert (rows[:, 3] == 2.0).all()  # the constant feature is not searched
        np.testing.assert_array_equal(rows, box.decode(found.latent))  # latent = standardized free features
        assert found.latent.shape == (2, 4)


def test_unreachable_target_spends_the_budget_and_no_more(tmp_path) -> None:
    blackbox, reference = box_case(tmp_path, weight=0.05)  # inside the box p stays below 0.8
    for method, generation in [("momentum_es", 20), ("cmaes", 32), ("random", 32)]:
        result = exemplars(
            blackbox,
            None,
            0,
            reference=reference,
            params=ExemplarParams(method=method, threshold=0.99, budget=500, patience=10**6),
            rng=0,
        )
        (e,) = result.classes[0].exemplars
        assert not e.success and e.stop_reason == "budget" and e.confidence < 0.8
        assert 500 <= e.queries < 500 + generation
        assert (e.input >= reference.min(axis=0)).all() and (e.input <= reference.max(axis=0)).all()


def test_tabular_sample_with_and_without_its_generator(tabular_dir) -> None:
    blackbox = BlackBox.open(tabular_dir / "classifier.onnx", FAST)
    generator = Generator.open(tabular_dir / "generator.onnx", CPU)
    reference = np.load(tabular_dir / "samples.npz")["X_reference"]
    boxed = exemplars(blackbox, None, reference=reference, params=ExemplarParams(threshold=0.99), rng=0)
    latent = exemplars(blackbox, generator, params=ExemplarParams(threshold=0.99), rng=0)
    assert boxed.success and latent.success
    for found in boxed.classes:
        assert (found.inputs >= reference.min(axis=0)).all() and (found.inputs <= reference.max(axis=0)).all()


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"method": "adam"}, "unknown exemplar search method"),
        ({"objective": "hinge"}, "unknown objective"),
        ({"threshold": 1.0}, "threshold"),
        ({"per_class": 0}, "at least 1"),
        ({"prior_penalty": -1.0}, "prior_penalty"),
        ({"min_distance": float("nan")}, "min_distance"),
    ],
)
def test_bad_params_raise_one_actionable_error(knobs: dict, message: str) -> None:
    with pytest.raises(ArgumentError, match=message):
        ExemplarParams(**knobs)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"targets": [3]}, "not a class index"),
        ({"targets": [1, 1]}, "only once"),
        ({"generator": None}, "reference rows"),
    ],
)
def test_bad_arguments_raise_one_actionable_error(tmp_path, arguments: dict, message: str) -> None:
    blackbox, generator = tiny_models(tmp_path)
    chosen = {"generator": generator, "targets": None, **arguments}
    with pytest.raises(ArgumentError, match=message):
        exemplars(blackbox, chosen["generator"], chosen["targets"], rng=0)
