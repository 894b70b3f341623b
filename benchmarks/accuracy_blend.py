"""How much a statistical model could add to MQ-CNN-IQF's default: the
level-wise blend ``(1 - w) Q_ours + w Q_baseline`` of the default's
quantiles (one training seed) and a statsforecast baseline's, on the
validation windows, scored as ``bench_accuracy.py`` scores (same windows,
metrics and GRID of levels). A blend is an upper bound of sorts for a new
statistical member: it sizes a member before one is built (CES was found
this way). Results accumulate in ``results/accuracy_blend.json``.

    OMP_NUM_THREADS=1 python benchmarks/accuracy_blend.py --split validation --data-dir DIR \\
        --baselines auto_ets,auto_theta --weights 0.1,0.2,0.3
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _accuracy_records import environment  # noqa: E402
from _accuracy_scoring import score  # noqa: E402
from bench_accuracy import (  # noqa: E402
    DEFAULT_STEPS,
    DEV_SUITE,
    SPLITS,
    STATS,
    quantile_forecasts,
    run_neural,
    run_stats,
    windows,
)

from gluonts_iqf.baselines import GRID  # noqa: E402

METRICS = ("mean_wQuantileLoss", "MASE", "sMAPE", "coverage_error")


def forecast_quantiles(forecasts) -> np.ndarray:
    """(n, len(GRID), H) quantiles of GluonTS forecasts at GRID."""
    return np.stack([np.stack([f.quantile(level) for level in GRID]) for f in forecasts])


def check_weight(weight: float) -> None:
    """ValueError unless ``weight`` is in [0, 1]."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")


def blend(ours: np.ndarray, other: np.ndarray, weight: float) -> np.ndarray:
    """Level-wise ``(1 - weight) ours + weight other``: monotone in the level
    when both are (a mean of quantile functions)."""
    check_weight(weight)
    if ours.shape != other.shape:
        raise ValueError(f"quantile arrays differ in shape: {ours.shape} and {other.shape}")
    return (1.0 - weight) * ours + weight * other


def geomean_ratios(rows: List[Dict], key: str) -> Dict[str, float]:
    """Per metric, the geometric mean over datasets of row[key] / row['ours']."""
    out = {}
    for m in METRICS:
        r = [row[key][m] / row["ours"][m] for row in rows if row["ours"][m] > 0]
        out[m] = float(np.exp(np.mean(np.log(r)))) if r else float("nan")
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", choices=[s for s in SPLITS if s != "test"], default="validation")
    p.add_argument("--datasets", default=",".join(DEV_SUITE))
    p.add_argument("--baselines", default="auto_ets")
    p.add_argument("--weights", default="0.1,0.2,0.3")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--output", default=str(Path(__file__).resolve().parent / "results" / "accuracy_blend.json"))
    args = p.parse_args(argv)
    baselines = args.baselines.split(",")
    unknown = sorted(set(baselines) - set(STATS))
    if unknown:
        raise SystemExit(f"unknown baselines {unknown}; choose from {STATS}")
    weights = [float(w) for w in args.weights.split(",")]
    for w in weights:
        check_weight(w)  # before any training
    import logging
    import warnings

    import lightning.pytorch  # noqa: F401  (sets its loggers' levels on import)
    import torch

    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "gluonts"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    out = Path(args.output)
    results = json.loads(out.read_text()) if out.exists() else {"records": {}}
    cfg = {"steps": DEFAULT_STEPS, "batch_size": 32, "mqcnn_kwargs": {}}
    rows = []
    for dataset in args.datasets.split(","):
        metadata, train, inputs, truth, _ = windows(dataset, args.data_dir, args.split, None)
        forecasts, _, _ = run_neural("mqcnn", metadata, train, inputs, cfg, args.seed)
        ours = forecast_quantiles(forecasts)
        row = {"dataset": dataset, "ours": score(quantile_forecasts(ours, inputs), inputs, truth, metadata.freq)}
        for name in baselines:
            q = run_stats(name, metadata, inputs)[0]
            for w in weights:
                row[f"{name}@{w}"] = score(quantile_forecasts(blend(ours, q, w), inputs), inputs, truth, metadata.freq)
        rows.append(row)
        results["records"][f"{args.split}|{dataset}|seed{args.seed}"] = {**row, "split": args.split,
                                                                       "seed": args.seed, **environment()}
        out.write_text(json.dumps(results, indent=1))
        print(dataset, " ".join(f"{k}: wQL {v['mean_wQuantileLoss']:.4f} MASE {v['MASE']:.3f}"
                                for k, v in row.items() if k != "dataset"), flush=True)
    for key in [k for k in rows[0] if k not in ("dataset", "ours")]:
        g = geomean_ratios(rows, key)
        print(f"{key:>18}: " + " ".join(f"{m} {g[m]:.3f}" for m in METRICS))


if __name__ == "__main__":
    main()
