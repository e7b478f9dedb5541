"""The world2 facts' measures against hand-computed cases."""

import numpy as np
import pytest

from cpt_lightning.tools.world2_facts import cosine_margin, family_labels, purity


def test_purity_counts_each_clusters_majority():
    clusters = np.array([0, 0, 0, 1, 1, 2])
    labels = np.array([5, 5, 7, 7, 7, 9])
    assert purity(clusters, labels) == pytest.approx(5 / 6)  # 2 of cluster 0, 2 of cluster 1, 1 of cluster 2


def test_cosine_margin_hand_computed():
    # two groups of two unit vectors
    features = np.array([[1.0, 0.0], [1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    groups = np.array([0, 0, 1, 1])
    within = (1.0 + 0.8) / 2  # cos(f0, f1) = 1, cos(f2, f3) = 0.8
    between = (0.6 + 0.0 + 0.6 + 0.0) / 4  # f0/f1 against f2 (0.6) and f3 (0)
    assert cosine_margin(features, groups) == pytest.approx(within - between)


def test_family_labels_read_the_code_columns():
    codes = np.array([[0, 1, 2, 9], [3, 14, 1, 6]])  # colour family, colour, shape family, shape
    levels = family_labels(codes)
    assert levels["colour family"].tolist() == [0, 3]
    assert levels["tone"].tolist() == [1, 2]
    assert levels["shape family"].tolist() == [2, 1]
    assert levels["family pair"].tolist() == [2, 13]
