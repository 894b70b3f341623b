#!/usr/bin/env python
"""How much the accuracy targets' ratios move with the series a window
happens to hold: a bootstrap over each dataset's series, from records of
``bench_accuracy.py --keep-series`` (no model is run).

Each draw resamples every dataset's series with replacement (the same draw
for every model, so the comparison stays paired), rebuilds each model's
metrics from the per-series parts (seed means for the neural models; their
seeds are held fixed), divides MQ-CNN-IQF (``--tag``) by the best baseline
of the draw per dataset and metric, as the targets do, and takes the
geometric mean over the datasets. The table gives the ratios on the series
as they are, the 5-95 % range over the draws, and the share of draws at or
below the targets (0.95 for the geometric mean, 1 on every dataset).

A dataset whose volume-weighted error rests on a few large series moves
most: the interval says how much of a window's ratio is the series drawn,
not the model. It says nothing about the other source of noise, the
calendar period of the window (``accuracy_trust.py`` pools windows for that).

Usage::

    python benchmarks/accuracy_bootstrap.py --results FILE [--split validation,test] [--tag share5000] \\
        [--draws 2000] [--seed 0] [--markdown benchmarks/RESULTS.md]
"""

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _accuracy_records import load_results  # noqa: E402
from _common import publish, rel  # noqa: E402
from bench_accuracy import BASELINES, DEV_SUITE, LABEL, SPLITS  # noqa: E402

from gluonts_iqf.baselines import GRID  # noqa: E402

HEADING = "## Accuracy: how far the series drawn move the ratios (bootstrap)"
METRICS = ("mean_wQuantileLoss", "MASE", "sMAPE", "coverage_error")
NAMES = {"mean_wQuantileLoss": "wQL", "MASE": "MASE", "sMAPE": "sMAPE", "coverage_error": "coverage error"}
#: The targets: the geometric mean of the ratios at most this, and every dataset's ratio at most 1.
TARGET_GEOMEAN = 0.95
#: Percentiles of the range reported.
LOW, HIGH = 5.0, 95.0


def parts_arrays(series: Dict[str, list]) -> Dict[str, np.ndarray]:
    """A record's per-series parts as arrays: ql, abs, mase, smape (n,),
    hits (n, len(GRID)), observed (n,)."""
    return {k: np.asarray(v, dtype=float) for k, v in series.items()}


def draw_counts(n: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of ``n`` series is drawn in each of ``draws``
    resamples with replacement, (draws + 1, n); the first row is the series
    as they are (all ones)."""
    counts = np.ones((draws + 1, n))
    for d in range(draws):
        counts[d + 1] = np.bincount(rng.integers(0, n, n), minlength=n)
    return counts


def metrics_of(p: Dict[str, np.ndarray], counts: np.ndarray) -> Dict[str, np.ndarray]:
    """The four metrics of one run for every row of ``counts``, each (R,):
    wQL = sum ql / sum abs; MASE the mean over the series where it is
    defined (finite); sMAPE the mean over the series where it is (not NaN);
    coverage error the mean over GRID of |sum hits / sum observed - level|.
    ``counts`` (R, n) from :func:`draw_counts`."""
    mase_ok = np.isfinite(p["mase"])
    smape_ok = ~np.isnan(p["smape"])
    with np.errstate(invalid="ignore", divide="ignore"):
        cover = (counts @ p["hits"]) / (counts @ p["observed"])[:, None]
        return {
            "mean_wQuantileLoss": (counts @ p["ql"]) / (counts @ p["abs"]),
            "MASE": (counts @ np.where(mase_ok, p["mase"], 0.0)) / (counts @ mase_ok),
            "sMAPE": (counts @ np.where(smape_ok, p["smape"], 0.0)) / (counts @ smape_ok),
            "coverage_error": np.abs(cover - np.asarray(GRID)).mean(axis=1),
        }


def cells(results: Dict[str, Any], split: str, tag: str) -> Dict[str, Dict[str, List[Dict[str, np.ndarray]]]]:
    """{dataset: {model: [parts of each seed's run]}} of the records with
    per-series parts: MQ-CNN-IQF's of ``tag``, the baselines' own."""
    out: Dict[str, Dict[str, List[Dict[str, np.ndarray]]]] = {}
    for key in sorted(results["records"]):
        rec = results["records"][key]
        if rec.get("split") != split or "series" not in rec or rec.get("max_history"):
            continue
        if rec["model"] == "mqcnn" and rec["tag"] != tag:
            continue
        out.setdefault(rec["dataset"], {}).setdefault(rec["model"], []).append(parts_arrays(rec["series"]))
    return out


def ratios(models: Dict[str, List[Dict[str, np.ndarray]]], counts: np.ndarray
           ) -> Tuple[Dict[str, np.ndarray], Dict[str, np.ndarray]]:
    """Per metric, MQ-CNN-IQF's score over the best baseline's for each row
    of ``counts`` (R,), and which baseline was best (R,) (index into the
    baselines present, in BASELINES order). Seed means first; a baseline
    with a non-finite score in a draw is not best there."""
    seeds = {m: [metrics_of(p, counts) for p in runs] for m, runs in models.items()}
    mean = {m: {k: np.mean([s[k] for s in runs], axis=0) for k in METRICS} for m, runs in seeds.items()}
    base = [b for b in BASELINES if b in mean]
    out, best_of = {}, {}
    for k in METRICS:
        stacked = np.stack([mean[b][k] for b in base])  # (baselines, draws)
        stacked = np.where(np.isfinite(stacked), stacked, np.inf)
        best_of[k] = stacked.argmin(axis=0)
        out[k] = mean["mqcnn"][k] / stacked.min(axis=0)
    return out, best_of


def bootstrap(results: Dict[str, Any], split: str, tag: str, datasets: Sequence[str], draws: int,
              seed: int) -> Dict[str, Any]:
    """Every dataset's ratio per metric for the series as they are and each
    draw (row 0 the series as they are), and the datasets used: those with
    MQ-CNN-IQF and at least one baseline kept with their series."""
    rng = np.random.default_rng(seed)
    table = cells(results, split, tag)
    used, per_dataset, best = [], {}, {}
    for dataset in datasets:
        models = table.get(dataset, {})
        if "mqcnn" not in models or not any(b in models for b in BASELINES):
            continue
        n = len(models["mqcnn"][0]["ql"])
        if any(len(p["ql"]) != n for runs in models.values() for p in runs):
            raise ValueError(f"{dataset}: runs with different numbers of series")
        per_dataset[dataset], idx = ratios(models, draw_counts(n, draws, rng))
        base = [b for b in BASELINES if b in models]
        best[dataset] = {k: base[int(idx[k][0])] for k in METRICS}
        used.append(dataset)
    if not used:
        raise ValueError(f"no records of split {split!r} with MQ-CNN-IQF ({tag!r}) kept with their series")
    geo = {k: np.exp(np.mean([np.log(per_dataset[d][k]) for d in used], axis=0)) for k in METRICS}
    every = {k: np.all([per_dataset[d][k] <= 1.0 for d in used], axis=0) for k in METRICS}
    return {"datasets": used, "per_dataset": per_dataset, "best": best, "geomean": geo, "every": every}


def summary(values: np.ndarray) -> Tuple[float, float, float]:
    """(the series as they are, the LOW and HIGH percentiles over the draws)."""
    return float(values[0]), float(np.percentile(values[1:], LOW)), float(np.percentile(values[1:], HIGH))


def table(boot: Dict[str, Any]) -> List[str]:
    """One window's table: per dataset and metric the ratio, its range, the
    best baseline and the share of draws at most 1; the geometric mean and
    how often every dataset is at most 1."""
    rows = ["| dataset | " + " | ".join(NAMES[k] for k in METRICS) + " |", "|---|" + "---:|" * len(METRICS)]
    for d in boot["datasets"]:
        cells_ = []
        for k in METRICS:
            v, lo, hi = summary(boot["per_dataset"][d][k])
            share = float(np.mean(boot["per_dataset"][d][k][1:] <= 1.0))
            cells_.append(f"{v:.3f} [{lo:.3f}, {hi:.3f}] ({LABEL[boot['best'][d][k]]}; <= 1 in {share:.0%})")
        rows.append(f"| {d} | " + " | ".join(cells_) + " |")
    geo = []
    for k in METRICS:
        v, lo, hi = summary(boot["geomean"][k])
        at = float(np.mean(boot["geomean"][k][1:] <= TARGET_GEOMEAN))
        geo.append(f"**{v:.3f}** [{lo:.3f}, {hi:.3f}] (<= {TARGET_GEOMEAN} in {at:.0%})")
    every = [f"{float(np.mean(boot['every'][k][1:])):.0%}" for k in METRICS]
    rows.append("| geometric mean | " + " | ".join(geo) + " |")
    rows.append("| every dataset at most 1 | " + " | ".join(f"in {e} of the draws" for e in every) + " |")
    return rows


def report(boots: Dict[str, Dict[str, Any]], tag: str, draws: int, seed: int, source: str) -> str:
    """The markdown section: one table per window (``boots`` by split, in order)."""
    splits = list(boots)
    lines = [
        HEADING, "",
        f"From the records of `{source}` (`bench_accuracy.py --split SPLIT --keep-series`: every model "
        f"of the benchmark rerun in one run on one machine, so each record keeps its per-series parts), "
        f"no model run here: `python benchmarks/accuracy_bootstrap.py --results {source} "
        f"--split {','.join(splits)} --tag {tag} --draws {draws} --seed {seed}`.",
        "",
        f"Each of {draws} draws resamples every dataset's series with replacement (the same series for "
        f"every model), rebuilds each model's metrics from its per-series parts (the neural models' seeds "
        f"held fixed, their mean taken), and divides MQ-CNN-IQF (`{tag}`) by the best baseline of the draw, "
        f"per dataset and metric, as the targets do. Cells: the ratio on the series as they are, "
        f"[{LOW:g} %, {HIGH:g} %] over the draws, the best baseline on the series as they are, and the "
        f"share of draws in which the ratio is at most 1. The interval is the part of a window's ratio "
        f"that the series drawn decide; the calendar period of the window is another source "
        f"(the held-out windows pooled above). The best baseline is chosen again in each draw, and the "
        f"least of eight noisy scores favours the baselines: where several baselines are close, the draws' "
        f"ratios sit above the ratio on the series as they are.",
        "",
    ]
    for split in splits:
        lines += [f"**{split} windows**", "", *table(boots[split]), ""]
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", required=True, help="records of bench_accuracy.py --keep-series")
    p.add_argument("--split", default="test", help="comma-separated windows, one table each")
    p.add_argument("--tag", default="share5000", help="the MQ-CNN-IQF configuration")
    p.add_argument("--datasets", default=",".join(DEV_SUITE))
    p.add_argument("--draws", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--markdown", default="", help="file whose bootstrap section is rewritten")
    args = p.parse_args(argv)
    if args.draws < 1:
        p.error(f"--draws must be at least 1, got {args.draws}")
    args.datasets = [d for d in args.datasets.split(",") if d]
    args.split = [x for x in args.split.split(",") if x]
    unknown = [x for x in args.split if x not in SPLITS]
    if unknown or not args.split:
        p.error(f"--split takes windows among {', '.join(SPLITS)}, got {unknown or 'none'}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    results = load_results(Path(args.results))
    boots = {split: bootstrap(results, split, args.tag, args.datasets, args.draws, args.seed) for split in args.split}
    publish(report(boots, args.tag, args.draws, args.seed, rel(Path(args.results))), args.markdown, HEADING)
    return 0


if __name__ == "__main__":
    sys.exit(main())
