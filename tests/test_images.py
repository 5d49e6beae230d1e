"""to_uint8 scales by the finite values, so NaN or Inf in a generated sample neither warns nor washes it out."""

from __future__ import annotations

import warnings

import numpy as np

from auditor.pictures import to_hwc, to_uint8


def test_to_uint8_uses_the_finite_range_and_stays_quiet():
    x = np.array([[0.0, 0.5, 1.0, np.nan, np.inf]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grey = to_uint8(to_hwc(x))[0, :, 0]
        blank = to_uint8(to_hwc(np.full((2, 2), np.nan)))
    assert grey.tolist() == [0, 128, 255, 0, 255]  # NaN drawn as the low end, Inf clipped to the high end
    assert blank.shape == (2, 2, 3) and (blank == 0).all()
