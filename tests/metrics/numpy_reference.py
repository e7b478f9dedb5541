"""Direct numpy computations of the geometry metrics, written from their definitions."""

from __future__ import annotations

import numpy as np

PINV_RCOND = 1e-8


def nc1(features: np.ndarray, labels: np.ndarray) -> float:
    features = features.astype(np.float64)
    classes = np.unique(labels)
    means = np.stack([features[labels == k].mean(0) for k in classes])
    within = np.zeros((features.shape[1],) * 2)
    for f, y in zip(features, labels, strict=True):
        d = f - means[np.searchsorted(classes, y)]
        within += np.outer(d, d)
    within /= len(features)
    centred = means - means.mean(0)
    between = sum(np.outer(c, c) for c in centred) / len(classes)
    return float(np.trace(within @ np.linalg.pinv(between, rcond=PINV_RCOND, hermitian=True)) / len(classes))


def etf_deviation(features: np.ndarray, ids: np.ndarray, centred: bool = True) -> float:
    values = []
    for cluster in np.unique(ids):
        members = features[ids == cluster].astype(np.float64)
        n = len(members)
        if n < 2:
            continue
        if centred:
            members = members - members.mean(0)
        units = members / np.linalg.norm(members, axis=1, keepdims=True)
        values.append(np.mean([(units[i] @ units[j] + 1 / (n - 1)) ** 2 for i in range(n) for j in range(n) if i != j]))
    return float(np.mean(values))


def intra_cluster_cosines(features: np.ndarray, ids: np.ndarray) -> np.ndarray:
    units = features.astype(np.float64) / np.linalg.norm(features, axis=1, keepdims=True)
    return np.array([units[i] @ units[j] for i in range(len(ids)) for j in range(i + 1, len(ids)) if ids[i] == ids[j]])
