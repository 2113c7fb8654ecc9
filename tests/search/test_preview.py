"""The preview's window: where the classes are, at most WINDOW px, inside the image."""

from __future__ import annotations

import numpy as np

from satseg.search.preview import preview_window


def test_the_window_goes_where_the_most_classes_are():
    truth = np.zeros((3, 1000, 1200), np.uint8)
    truth[0] = 1  # everywhere
    truth[1, 900:, 1100:] = 1  # only in the bottom-right corner
    truth[2, 950:, 1150:] = 1
    rows, cols = preview_window(truth, 512)
    assert (rows.start, rows.stop, cols.start, cols.stop) == (488, 1000, 688, 1200)


def test_ties_go_to_the_centre_and_small_images_are_taken_whole():
    truth = np.ones((2, 1000, 1000), np.uint8)
    rows, cols = preview_window(truth, 512)
    assert (rows.start, cols.start) == (244, 244) and rows.stop - rows.start == 512
    rows, cols = preview_window(np.zeros((1, 100, 300), np.uint8), 512)
    assert (rows, cols) == (slice(0, 100), slice(0, 300))
