"""Configurations of MQ-CNN-IQF against the default on small training sets:
the validation windows of the first N series of each dataset
(``bench_accuracy.py --split validation --max-series N``, records in
``results/accuracy_small_nN.json``). Prints, per N and per size of the
training data (observed values), the geometric mean over datasets of each
tag's metric divided by the default's (seed means; only datasets that both
tags have). Reads the records and the data only; trains nothing.

    python benchmarks/accuracy_subsets.py --data-dir DIR
"""

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import windows  # noqa: E402

from gluonts_iqf.model.mqcnn.estimator import observed_values  # noqa: E402

METRICS = ("mean_wQuantileLoss", "MASE", "sMAPE", "coverage_error")
#: training sizes (observed values) of the second table's rows
SIZE_EDGES = (0, 1000, 5000, math.inf)


def seed_means(path: Path) -> Dict[Tuple[str, str], Dict[str, float]]:
    """(dataset, tag) -> metric means over the tag's seeds."""
    runs = defaultdict(list)
    for r in json.loads(path.read_text())["records"].values():
        if r["model"] == "mqcnn":
            runs[(r["dataset"], r["tag"])].append(r["metrics"])
    return {k: {m: float(np.mean([x[m] for x in v])) for m in METRICS} for k, v in runs.items()}


def ratios(means, tag: str) -> Dict[str, Dict[str, float]]:
    """dataset -> metric -> tag / default."""
    out = {}
    for (d, t), v in means.items():
        if t == tag and (d, "default") in means:
            out[d] = {m: v[m] / means[(d, "default")][m] for m in METRICS}
    return out


def geomean(values: List[float]) -> float:
    return float(np.exp(np.mean(np.log(values)))) if values else float("nan")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, help="raw data folder (default: the embedded data only)")
    p.add_argument("--results", default=str(Path(__file__).resolve().parent / "results"))
    args = p.parse_args(argv)
    files = sorted(Path(args.results).glob("accuracy_small_n*.json"), key=lambda f: int(f.stem.split("_n")[-1]))
    by_size = defaultdict(lambda: defaultdict(list))  # tag -> size bucket -> [ratios per metric]
    print("| N | tag | datasets | " + " | ".join(METRICS) + " |")
    print("|---:|---|---:|" + "---:|" * len(METRICS))
    for f in files:
        n = int(f.stem.split("_n")[-1])
        means = seed_means(f)
        tags = sorted({t for _, t in means if t != "default"})
        sizes = {}
        for d in sorted({d for d, _ in means}):
            train = windows(d, args.data_dir, "validation", n)[1]
            sizes[d] = observed_values(train)
        for tag in tags:
            r = ratios(means, tag)
            print(f"| {n} | {tag} | {len(r)} | " + " | ".join(f"{geomean([x[m] for x in r.values()]):.3f}" for m in METRICS) + " |")
            for d, x in r.items():
                bucket = next(i for i in range(len(SIZE_EDGES) - 1) if SIZE_EDGES[i] <= sizes[d] < SIZE_EDGES[i + 1])
                by_size[tag][bucket].append(x)
    print("\n| tag | training values | datasets x N | " + " | ".join(METRICS) + " |")
    print("|---|---|---:|" + "---:|" * len(METRICS))
    for tag, buckets in sorted(by_size.items()):
        for b in sorted(buckets):
            xs = buckets[b]
            hi = SIZE_EDGES[b + 1]
            label = f"{SIZE_EDGES[b]:,}-{hi:,.0f}" if math.isfinite(hi) else f"{SIZE_EDGES[b]:,}+"
            print(f"| {tag} | {label} | {len(xs)} | " + " | ".join(f"{geomean([x[m] for x in xs]):.3f}" for m in METRICS) + " |")


if __name__ == "__main__":
    main()
