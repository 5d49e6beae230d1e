"""Captum's published expectations, reproduced through our public API on Captum's own test models.

Every expected array below is copied from Captum's tests (pytorch/captum, tests/attr/test_feature_ablation.py
and tests/attr/test_occlusion.py; each test names the Captum test it copies), not from our output. The
models are Captum's (captum/testing/helpers/basic_models.py) with the same weights, built with onnx.helper
(tests/explain/attribution_models.py). Captum's target=0 on the forward's output is our score="raw",
target=0. Captum's models with several input tensors take one input here whose rows (or channels) are those
tensors, so a per-tensor mask, baseline or window becomes one over that row or channel; Captum's windows
of different sizes per tensor are one occlusion call per window, each read on its own row or channel.

Of Captum's 53 cases with expectations (38 in test_feature_ablation.py, 15 in test_occlusion.py), 51 are
here; the NoiseTunnel variants (test_simple_ablation_int_to_int_nt, test_multi_input_ablation_with_mask_nt:
stdevs 1e-10) have the plain cases' expectations and are checked through them. Left out: test_sparse_features
and test_empty_sparse_features (sparse index lists; ONNX inputs are dense tensors), and the tests of Captum's
own machinery (perturbations_per_eval limits, futures, progress bars, torch's dtype conversions).
"""

from __future__ import annotations

import numpy as np
import pytest
from attribution_models import (
    captum_basic,
    captum_conv,
    captum_model3,
    captum_multilayer,
    captum_sum,
    open_model,
)
from onnx_factory import conv_image, linear

from auditor.errors import ArgumentError
from auditor.explain.attribution import Attributions, feature_ablation, occlusion

ATOL = 1e-4
# BasicModel_MultiLayer_MultiInput's inputs in Captum's tests, one [N, 3] tensor each
INP1 = [[23.0, 100.0, 0.0], [20.0, 50.0, 30.0]]
INP2 = [[20.0, 50.0, 30.0], [0.0, 100.0, 0.0]]
INP3 = [[0.0, 100.0, 10.0], [2.0, 10.0, 3.0]]


def rows(*tensors) -> np.ndarray:
    """Captum's per-tensor arrays [N, 3] (or broadcastable [1, 3]) -> our [N, tensors, 3]."""
    n = max(len(t) for t in tensors)
    return np.stack([np.broadcast_to(np.asarray(t), (n, 3)) for t in tensors], axis=1)


MULTI_INPUT = rows(INP1, INP2, INP3)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("captum")
    protos = {
        "multilayer": (captum_multilayer(), None),
        "multi_input": (captum_multilayer(tensors=3), None),
        "bool_input": (captum_multilayer(mult=10.0), None),
        "summed": (captum_multilayer(summed=True), None),
        "summed_multi_input": (captum_multilayer(tensors=3, summed=True), None),
        "basic": (captum_basic(), None),
        "model3": (captum_model3(), None),
        "sum7": (captum_sum(7), None),
        "basic_int": (captum_basic(integer=True), None),
        "model3_int": (captum_model3(integer=True), None),
        "identity": (linear(np.eye(3), np.zeros(3)), "logits"),
        "constant": (linear(np.zeros((5, 30)), np.ones(30)), "logits"),
        "conv": (captum_conv(), "logits"),
        "conv_column": (captum_conv(column=True), "logits"),
    }
    return {name: open_model(proto, folder / f"{name}.onnx", scores=s) for name, (proto, s) in protos.items()}


def ablation_maps(bb, x, **options) -> np.ndarray:
    result = feature_ablation(bb, np.asarray(x, dtype=np.float64), score="raw", **{"target": 0, **options})
    assert isinstance(result, Attributions)
    return result.maps


def occlusion_maps(bb, x, **options) -> np.ndarray:
    result = occlusion(bb, np.asarray(x, dtype=np.float64), score="raw", **{"target": 0, **options})
    assert isinstance(result, Attributions)
    return result.maps


# ------------------------------------------------------------ tests/attr/test_feature_ablation.py


def test_simple_ablation(models) -> None:
    expected = [[80.0, 200.0, 120.0]]
    np.testing.assert_allclose(ablation_maps(models["multilayer"], [[20.0, 50.0, 30.0]]), expected, atol=ATOL)


def test_simple_ablation_int_to_int(models) -> None:
    # also test_simple_ablation_int_to_int_nt (NoiseTunnel, stdevs 1e-10): the same expectation
    expected = [[-3.0, 0.0, 0.0]]
    np.testing.assert_allclose(ablation_maps(models["basic"], [[-3, 1, 2]]), expected, atol=ATOL)


def test_simple_ablation_int_to_float(models) -> None:
    # an int64 input tensor, computed in int64, the output cast to float; Captum's int_to_int has an integer
    # output, which our model contract reads as labels, so it runs here on float inputs (above)
    expected = [[-3.0, 0.0, 0.0]]
    x = np.array([[-3, 1, 2]], dtype=np.int64)
    result = feature_ablation(models["basic_int"], x, score="raw", target=0)
    assert isinstance(result, Attributions)
    np.testing.assert_allclose(result.maps, expected, atol=ATOL)


def test_simple_ablation_with_mask(models) -> None:
    expected = [[280.0, 280.0, 120.0]]
    found = ablation_maps(models["multilayer"], [[20.0, 50.0, 30.0]], groups=np.array([[0, 0, 1]]))
    np.testing.assert_allclose(found, expected, atol=ATOL)
    # the same mask given as booleans, and as any two ids
    for groups in (np.array([False, False, True]), np.array([7, 7, -2])):
        found = ablation_maps(models["multilayer"], [[20.0, 50.0, 30.0]], groups=groups)
        np.testing.assert_allclose(found, expected, atol=ATOL)


def test_simple_ablation_with_baselines(models) -> None:
    expected = [[248.0, 248.0, 104.0]]
    found = ablation_maps(models["multilayer"], [[20.0, 50.0, 30.0]], groups=[[0, 0, 1]], baseline=4)
    np.testing.assert_allclose(found, expected, atol=ATOL)


def test_simple_ablation_boolean(models) -> None:
    expected = [[40.0, 40.0, 40.0]]  # inputs True/False as 1/0 (ONNX Runtime models take numbers)
    found = ablation_maps(models["bool_input"], [[1.0, 0.0, 1.0]], groups=[[0, 0, 1]])
    np.testing.assert_allclose(found, expected, atol=ATOL)


def test_simple_ablation_boolean_with_baselines(models) -> None:
    expected = [[-40.0, -40.0, 0.0]]
    found = ablation_maps(models["bool_input"], [[1.0, 0.0, 1.0]], groups=[[0, 0, 1]], baseline=1.0)
    np.testing.assert_allclose(found, expected, atol=ATOL)


def test_multi_sample_ablation(models) -> None:
    expected = [[8.0, 35.0, 12.0], [80.0, 200.0, 120.0]]
    found = ablation_maps(models["multilayer"], [[2.0, 10.0, 3.0], [20.0, 50.0, 30.0]])
    np.testing.assert_allclose(found, expected, atol=ATOL)


def test_multi_sample_ablation_with_mask(models) -> None:
    # also test_multi_sample_ablation_with_mask_weighted: the same expectation
    expected = [[41.0, 41.0, 12.0], [280.0, 280.0, 120.0]]
    mask = np.array([[0, 0, 1], [1, 1, 0]])  # one mask per input
    found = ablation_maps(models["multilayer"], [[2.0, 10.0, 3.0], [20.0, 50.0, 30.0]], groups=mask)
    np.testing.assert_allclose(found, expected, atol=ATOL)


def test_future_output_2(models) -> None:
    expected = [[80.0, 200.0, 120.0], [40.0, 160.0, 80.0]]
    found = ablation_maps(models["multilayer"], [[20.0, 50.0, 30.0], [10.0, 40.0, 20.0]])
    np.testing.assert_allclose(found, expected, atol=ATOL)


def test_multi_input_ablation_with_mask(models) -> None:
    # also ..._with_mask_weighted and ..._with_mask_nt (stdevs 1e-10): the same expectations
    groups = rows([[1, 1, 1], [0, 1, 0]], [[3, 4, 2]], [[5, 6, 7], [5, 5, 5]])
    expected = (
        [[492.0, 492.0, 492.0], [200.0, 200.0, 200.0]],
        [[80.0, 200.0, 120.0], [0.0, 400.0, 0.0]],
        [[0.0, 400.0, 40.0], [60.0, 60.0, 60.0]],
    )
    found = ablation_maps(models["multi_input"], MULTI_INPUT, groups=groups)
    np.testing.assert_allclose(found, rows(*expected), atol=ATOL)
    expected_with_baseline = (
        [[468.0, 468.0, 468.0], [184.0, 192.0, 184.0]],
        [[68.0, 188.0, 108.0], [-12.0, 388.0, -12.0]],
        [[-16.0, 384.0, 24.0], [12.0, 12.0, 12.0]],
    )
    per_feature = rows([[2.0] * 3], [[3.0] * 3], [[4.0] * 3])[0]  # Captum's baselines=(2, 3.0, 4)
    found = ablation_maps(models["multi_input"], MULTI_INPUT, groups=groups, baseline=per_feature)
    np.testing.assert_allclose(found, rows(*expected_with_baseline), atol=ATOL)


def test_unassociated_output_3d_tensor(models) -> None:
    # also test_future_output: a forward whose outputs (ones of shape 5 x 3 x 2, here 30 columns) ignore the
    # input gives zero maps for every output, mask arange(5); the inputs are ten random rows as in Captum
    x = np.random.default_rng(0).normal(size=(10, 5))
    for target in range(30):
        found = ablation_maps(models["constant"], x, groups=np.arange(5), target=target)
        np.testing.assert_allclose(found, np.zeros((10, 5)), atol=ATOL)


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        # test_single_inp_ablation_multi_output_aggr: mask [[0, 1, 2]]
        (np.array([0, 1, 2]), [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]]),
        # test_single_inp_ablation_multi_output_aggr_mask_none
        (None, [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]]),
        # test_single_inp_ablation_multi_output_aggr_non_standard: mask [[0, 0, 1]]
        (np.array([0, 0, 1]), [[1.0, 1.0, 0.0], [2.0, 2.0, 0.0], [0.0, 0.0, 3.0]]),
    ],
)
def test_single_inp_ablation_multi_output_aggr(models, groups, expected) -> None:
    # Captum's forward returns the batch's first row (inp[0]) as its three outputs, so its map of output j is
    # the first input's map for output j of the identity model; the second input ([4, 5, 6]) is not read there
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    options = {} if groups is None else {"groups": groups}
    found = [ablation_maps(models["identity"], x, target=j, **options)[0] for j in range(3)]
    np.testing.assert_allclose(found, expected, atol=ATOL)


def test_multi_input_ablation_with_mask_dupe_feature_idx(models) -> None:
    # ids repeated across tensors and not adjacent: id 0 and 1 sit in all three tensors
    groups = rows([[1, 1, 1], [0, 1, 0]], [[0, 1, 2]], [[0, 1, 2], [0, 0, 0]])
    expected_out = (
        [[1092.0, 1092.0, 1092.0], [260.0, 600.0, 260.0]],
        [[80.0, 1092.0, 160.0], [260.0, 600.0, 0.0]],
        [[80.0, 1092.0, 160.0], [260.0, 260.0, 260.0]],
    )
    found = ablation_maps(models["multi_input"], MULTI_INPUT, groups=groups)
    np.testing.assert_allclose(found, rows(*expected_out), atol=ATOL)
    expected_cross_tensor_with_baseline = (
        [[1040.0, 1040.0, 1040.0], [184.0, 580.0, 184.0]],
        [[52.0, 1040.0, 132.0], [184.0, 580.0, -12.0]],
        [[52.0, 1040.0, 132.0], [184.0, 184.0, 184.0]],
    )
    per_feature = rows([[2.0] * 3], [[3.0] * 3], [[4.0] * 3])[0]
    found = ablation_maps(models["multi_input"], MULTI_INPUT, groups=groups, baseline=per_feature)
    np.testing.assert_allclose(found, rows(*expected_cross_tensor_with_baseline), atol=ATOL)


def test_multi_input_ablation(models) -> None:
    shared = rows([[3.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]], [[1.0, 2.0, 3.0]])  # [1, 3, 3]: broadcast
    expected = (
        [[80.0, 400.0, 0.0], [68.0, 200.0, 120.0]],
        [[80.0, 196.0, 120.0], [0.0, 396.0, 0.0]],
        [[-4.0, 392.0, 28.0], [4.0, 32.0, 0.0]],
    )
    found = ablation_maps(models["multi_input"], MULTI_INPUT, baseline=shared)
    np.testing.assert_allclose(found, rows(*expected), atol=ATOL)
    per_input = rows(
        [[3.0, 0.0, 0.0], [3.0, 0.0, 2.0]],
        [[0.0, 1.0, 0.0], [0.0, 1.0, 4.0]],
        [[3.0, 2.0, 4.0], [1.0, 2.0, 3.0]],
    )
    expected_per_input = (
        [[80.0, 400.0, 0.0], [68.0, 200.0, 112.0]],
        [[80.0, 196.0, 120.0], [0.0, 396.0, -16.0]],
        [[-12.0, 392.0, 24.0], [4.0, 32.0, 0.0]],
    )
    found = ablation_maps(models["multi_input"], MULTI_INPUT, baseline=per_input)
    np.testing.assert_allclose(found, rows(*expected_per_input), atol=ATOL)


def test_multi_input_ablation_with_int_input_tensor_and_float_baseline(models) -> None:
    # sum_forward over inputs [N, 2], [N, 2, 2], [N, 1], flattened into one row of 7; target=None
    x = np.array([[0, 1, 0.1, 0.2, 0.3, 0.2, 0], [3, 4, 0.4, 0.5, 0.3, 0.2, 1]])
    baseline = np.array([0.2, 0.2, 3.1, 3.1, 3.1, 3.1, 0.4])
    expected = (
        [[-0.2, 0.8], [2.8, 3.8]],
        [[[-3.0, -2.9], [-2.8, -2.9]], [[-2.7, -2.6], [-2.8, -2.9]]],
        [[-0.4], [0.6]],
    )
    flat = np.concatenate([np.reshape(e, (2, -1)) for e in expected], axis=1)
    found = ablation_maps(models["sum7"], x, baseline=baseline, target=None)
    np.testing.assert_allclose(found, flat, atol=ATOL)


def test_simple_multi_input_conv_ablation(models) -> None:
    # Captum's test_simple_multi_input_conv in test_feature_ablation.py; inputs x, x2 as channels 0, 1
    x = np.stack([np.arange(16.0).reshape(4, 4), np.ones((4, 4))])[None]
    whole = np.stack([np.zeros((4, 4), int), np.ones((4, 4), int)])  # feature_mask=(tensor(0), tensor(1))
    found = ablation_maps(models["conv"], x, groups=whole)
    np.testing.assert_allclose(found[0], np.stack([np.full((4, 4), 67.0), np.full((4, 4), 13.0)]), atol=ATOL)
    expected = (
        [[0.0, 2.0, 4.0, 3.0], [4.0, 9.0, 10.0, 7.0], [4.0, 13.0, 14.0, 11.0], [0.0, 0.0, 0.0, 0.0]],
        [[1.0, 2.0, 2.0, 1.0], [1.0, 2.0, 2.0, 1.0], [1.0, 2.0, 2.0, 1.0], [0.0, 0.0, 0.0, 0.0]],
    )
    every_value = np.arange(32).reshape(2, 4, 4)  # no feature mask: every value its own feature
    found = ablation_maps(models["conv"], x, groups=every_value)
    np.testing.assert_allclose(found[0], np.stack(expected), atol=ATOL)


def test_single_ablation_batch_scalar(models) -> None:
    # _single_input_one_sample_batch_scalar_ablation_assert: forward = torch.sum(net(inp)), one sample
    expected = [[82.0, 82.0, 24.0]]
    found = ablation_maps(models["summed"], [[2.0, 10.0, 3.0]], groups=[[0, 0, 1]], target=None)
    np.testing.assert_allclose(found, expected, atol=ATOL)


def test_multi_sample_ablation_batch_scalar(models) -> None:
    # _single_input_multi_sample_batch_scalar_ablation_assert: one scalar for the whole batch, the sum of
    # every row's outputs, so its attribution is the sum of the per-input maps
    expected = [[642.0, 642.0, 264.0]]
    found = ablation_maps(models["summed"], [[2.0, 10.0, 3.0], [20.0, 50.0, 30.0]], groups=[[0, 0, 1]])
    np.testing.assert_allclose(found.sum(axis=0, keepdims=True), expected, atol=ATOL)


def test_multi_inp_ablation_batch_scalar(models) -> None:
    # _multi_input_batch_scalar_ablation_assert
    groups = rows([[1, 1, 1]], [[0, 3, 2]], [[4, 5, 6]])[0]
    expected = ([[1784, 1784, 1784]], [[160, 1200, 240]], [[16, 880, 104]])
    found = ablation_maps(models["summed_multi_input"], MULTI_INPUT, groups=groups)
    np.testing.assert_allclose(found.sum(axis=0, keepdims=True), rows(*expected), atol=ATOL)


# ------------------------------------------------------------ tests/attr/test_occlusion.py


def test_simple_input(models) -> None:
    expected = [[80.0, 200.0, 120.0]]
    found = occlusion_maps(models["multilayer"], [[20.0, 50.0, 30.0]], window=1, stride=1)
    np.testing.assert_allclose(found, expected, atol=ATOL)


def test_simple_multi_input(models) -> None:
    # also ..._int_to_int, ..._int_to_float and ..._0d (target=None): the same expectations
    expected = ([[0.0], [1.0]], [[0.0], [-1.0]])
    x = [[-10.0, -5.0], [3.0, 1.0]]  # inp1, inp2 side by side
    for target in (0, None):
        found = occlusion_maps(models["model3"], x, window=1, stride=1, target=target)
        np.testing.assert_allclose(found, np.concatenate(expected, axis=1), atol=ATOL)


def test_simple_multi_input_int_to_float(models) -> None:
    # the same expectations on an int64 input computed in int64, the output cast to float
    expected = ([[0.0], [1.0]], [[0.0], [-1.0]])
    x = np.array([[-10, -5], [3, 1]], dtype=np.int64)
    result = occlusion(models["model3_int"], x, score="raw", target=0, window=1, stride=1)
    assert isinstance(result, Attributions)
    np.testing.assert_allclose(result.maps, np.concatenate(expected, axis=1), atol=ATOL)


def test_simple_input_larger_shape(models) -> None:
    expected = [[200.0, 220.0, 240.0]]
    found = occlusion_maps(
        models["multilayer"], [[20.0, 50.0, 30.0]], window=2, stride=1, baseline=np.array([10.0, 10.0, 10.0])
    )
    np.testing.assert_allclose(found, expected, atol=ATOL)


def test_simple_input_shape_with_stride(models) -> None:
    expected = [[280.0, 280.0, 120.0]]  # windows {0, 1} and {2}: the last one cut at the edge
    found = occlusion_maps(models["multilayer"], [[20.0, 50.0, 30.0]], window=2, stride=2)
    np.testing.assert_allclose(found, expected, atol=ATOL)


def test_multi_sample_occlusion(models) -> None:
    # Captum's test_multi_sample_ablation in test_occlusion.py
    expected = [[8.0, 35.0, 12.0], [80.0, 200.0, 120.0]]
    found = occlusion_maps(models["multilayer"], [[2.0, 10.0, 3.0], [20.0, 50.0, 30.0]], window=1, stride=1)
    np.testing.assert_allclose(found, expected, atol=ATOL)


def per_tensor_occlusion(bb, x, windows, strides, **options) -> np.ndarray:
    """Captum's one window per input tensor: one call per window, row k read from the k-th call."""
    return np.stack(
        [
            occlusion_maps(bb, x, window=(1, w), stride=(1, s), **options)[:, k]
            for k, (w, s) in enumerate(zip(windows, strides))
        ],
        axis=1,
    )


def test_multi_input_occlusion_with_mask(models) -> None:
    # Captum's test_multi_input_ablation_with_mask in test_occlusion.py: windows (3,), (1,), (2,), stride 1
    expected = (
        [[492.0, 492.0, 492.0], [400.0, 400.0, 400.0]],
        [[80.0, 200.0, 120.0], [0.0, 400.0, 0.0]],
        [[400.0, 420.0, 440.0], [48.0, 50.0, 52.0]],
    )
    found = per_tensor_occlusion(models["multi_input"], MULTI_INPUT, (3, 1, 2), (1, 1, 1))
    np.testing.assert_allclose(found, rows(*expected), atol=ATOL)


def test_multi_input_occlusion_with_baselines(models) -> None:
    # Captum's test_multi_input_ablation_with_baselines: baselines ([[1, 4, 7], [3, 6, 9]], 3.0, [[4], [6]]),
    # strides (2, 1, 2): on the third tensor windows {0, 1} and {2}
    baselines = rows([[1.0, 4.0, 7.0], [3.0, 6.0, 9.0]], [[3.0] * 3], [[4.0] * 3, [6.0] * 3])
    expected = (
        [[444.0, 444.0, 444.0], [328.0, 328.0, 328.0]],
        [[68.0, 188.0, 108.0], [-12.0, 388.0, -12.0]],
        [[368.0, 368.0, 24.0], [0.0, 0.0, -12.0]],
    )
    found = per_tensor_occlusion(models["multi_input"], MULTI_INPUT, (3, 1, 2), (2, 1, 2), baseline=baselines)
    np.testing.assert_allclose(found, rows(*expected), atol=ATOL)


def test_simple_multi_input_conv(models) -> None:
    x = np.stack([np.arange(16.0).reshape(4, 4), np.ones((4, 4))])[None]
    found = occlusion_maps(models["conv"], x, window=(1, 4, 4))  # one entry per input dimension
    np.testing.assert_allclose(found[0], np.stack([np.full((4, 4), 67.0), np.full((4, 4), 13.0)]), atol=ATOL)
    expected = (
        [
            [17.0, 17.0, 17.0, 17.0],
            [17.0, 17.0, 17.0, 17.0],
            [64.0, 65.5, 65.5, 67.0],
            [64.0, 65.5, 65.5, 67.0],
        ],
        [[3.0, 3.0, 3.0, 3.0], [3.0, 3.0, 3.0, 3.0], [3.0, 3.0, 3.0, 3.0], [0.0, 0.0, 0.0, 0.0]],
    )
    first = occlusion_maps(models["conv"], x, window=(1, 2, 3), stride=(1, 2, 1))[0, 0]
    second = occlusion_maps(models["conv"], x, window=(1, 1, 2), stride=(1, 1, 2))[0, 1]
    np.testing.assert_allclose(np.stack([first, second]), np.stack(expected), atol=ATOL)


def test_simple_multi_input_conv_diff_shapes(models) -> None:
    # x2 of shape [4, 1]: channel 1, column 0 of our input (its other columns are not read by the model)
    x = np.stack([np.arange(16.0).reshape(4, 4), np.pad(np.ones((4, 1)), ((0, 0), (0, 3)))])[None]
    expected_x = [
        [17.0, 17.0, 17.0, 17.0],
        [17.0, 17.0, 17.0, 17.0],
        [67.0, 67.0, 67.0, 67.0],
        [67.0, 67.0, 67.0, 67.0],
    ]
    expected_x2 = [[10.0], [10.0], [8.0], [6.0]]
    first = occlusion_maps(models["conv_column"], x, window=(1, 2, 4), stride=(1, 2, 1))[0, 0]
    second = occlusion_maps(models["conv_column"], x, window=(1, 2, 1), stride=(1, 1, 1))[0, 1, :, :1]
    np.testing.assert_allclose(first, expected_x, atol=ATOL)
    np.testing.assert_allclose(second, expected_x2, atol=ATOL)


def test_improper_window_shape(tmp_path) -> None:
    bb = open_model(conv_image((1, 4, 4), 4), tmp_path / "m.onnx")
    x = np.arange(16.0).reshape(1, 4, 4)
    # too many window dimensions: refused, as in Captum
    with pytest.raises(ArgumentError, match=r"window \[1, 1, 1, 2\] does not fit"):
        occlusion(bb, x, window=(1, 1, 1, 2), target=0)
    # too few: Captum refuses (1, 2) on a [1, 4, 4] input; we read it as one entry per map axis (the
    # image's rows and columns, channels together), the same windows as (1, 1, 2) on one channel
    per_map = occlusion(bb, x, window=(1, 2), stride=(1, 2), target=0, score="raw").map
    per_input = occlusion(bb, x, window=(1, 1, 2), stride=(1, 1, 2), target=0, score="raw").map
    np.testing.assert_allclose(per_map, per_input[0], atol=ATOL)


def test_improper_stride(tmp_path) -> None:
    bb = open_model(conv_image((1, 4, 4), 4), tmp_path / "m.onnx")
    x = np.arange(16.0).reshape(1, 4, 4)
    # a stride with fewer or more dimensions than its window: refused, as in Captum
    for window, stride in (((1, 2, 2), (1, 2)), ((1, 1, 2), (2, 1, 2, 2))):
        with pytest.raises(ArgumentError, match=r"stride .* does not fit"):
            occlusion(bb, x, window=window, stride=stride, target=0)


def test_too_large_stride(tmp_path) -> None:
    # Captum raises where a stride exceeds the window on an axis the window does not span; so do we
    bb = open_model(conv_image((1, 4, 4), 4), tmp_path / "m.onnx")
    x = np.arange(16.0).reshape(1, 4, 4)
    with pytest.raises(ArgumentError, match=r"stride .* larger than the window"):
        occlusion(bb, x, window=(1, 1, 2), stride=2)
    with pytest.raises(ArgumentError, match="larger than the map"):
        occlusion(bb, x, window=(2, 1, 2), stride=2)
    # a stride beyond the window is fine where the window spans the axis (Captum's exception)
    assert np.isfinite(occlusion(bb, x, window=(1, 4, 4), stride=(5, 5, 5)).map).all()
