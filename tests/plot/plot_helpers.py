"""Helpers shared by the plot tests (imported as ``plot_helpers``; its
folder is put on ``sys.path`` by ``conftest.py``)."""

from __future__ import annotations

import matplotlib.image as mimage
import numpy as np
from matplotlib.collections import PolyCollection

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N_SERIES = 3
N_DRAWS = 50  # self-drawn target paths per forecast -> 3 * 50 * 48 = 7200 PITs


def _forecast_kinds(data):
    f = data["forecasts"][0]
    return {
        "iqf": f,
        "sample": data["sample_fc"],
        "quantile": f.to_quantile_forecast([0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975]),
    }


def _check_png(path, width, height):
    with open(path, "rb") as fh:
        assert fh.read(8) == PNG_SIGNATURE
    img = mimage.imread(path)
    assert img.shape[:2] == (height, width)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    # not blank: a visible share of non-white pixels, many grey levels
    assert (img[..., :3].min(axis=-1) < 0.9).mean() > 0.02
    assert len(np.unique(img[..., 0])) > 10


def _bands(ax):
    return [
        c for c in ax.collections
        if isinstance(c, PolyCollection) and c.get_label().endswith("interval")
    ]
