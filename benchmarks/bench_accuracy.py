#!/usr/bin/env python
"""Accuracy benchmark: MQ-CNN-IQF against the baselines a forecaster tries
first, on validation windows (where every choice is made) and on test
windows (scored once per reported configuration).

Windows (one per series, the datasets' standard horizon ``H``):

* ``test``: train on ``ds.train``; forecast the last ``H`` values of each
  ``ds.test`` series from the values before them.
* ``validation``: every training series loses its last ``H`` values; train
  on what is left; forecast those ``H`` values from it. The test values are
  never seen. Series with fewer than ``H + 1`` training values have no
  validation window (their count is recorded).
* ``validation2``: the same one window earlier (every training series loses
  its last ``2 H`` values; forecast the first ``H`` of them): a second
  validation window, as one window shares one calendar period across every
  series; a change is adopted only when it wins on both.
* ``validation3``: two windows earlier (the last ``3 H`` values removed,
  the first ``H`` of them forecast): a third.
* ``validation4``: three windows earlier (the last ``4 H`` values removed):
  a fourth; ``validation5``: four windows earlier, a fifth. Nothing is
  chosen on ``validation3``, ``validation4``, ``validation5`` or ``test``:
  together they are the held-out windows of a rolling origin.

Models: ``mqcnn`` (:class:`gluonts_iqf.MQCNNEstimator`, defaults unless
``--mqcnn-kwargs``), GluonTS's ``deepar``, ``tft`` and ``patchtst`` at the
same batch size and number of gradient steps; statsforecast's
``seasonal_naive``, ``auto_ets``, ``auto_theta``, ``auto_ces`` (quantiles
0.05, ..., 0.95 from their Gaussian prediction intervals, the point forecast
as median) and ``stat_ensemble``, the level-wise average of the quantiles
of ETS, Theta and CES.

Metrics: GluonTS's ``Evaluator`` (mean weighted quantile loss over levels
0.1..0.9, MASE with the frequency's season (averaged over the series where
it is defined), sMAPE, coverage at 0.1 / 0.5 / 0.9), the mean absolute coverage error over levels 0.05..0.95 and the
quantile-crossing rate (:mod:`gluonts_iqf.metrics`); training and prediction
wall time. For each metric and dataset, ours divided by the best baseline's,
and the geometric mean of that ratio over datasets.

Results are kept per (split, dataset, model, tag, seed) in ``--output``
(JSON): a re-run computes only the missing records (``--force`` recomputes),
so baselines are fitted once while model variants (``--tag`` with
``--mqcnn-kwargs``) are compared on the validation split. ``--markdown``
rewrites the RESULTS.md section of the split. ``--max-history K`` cuts every
series to its last K horizons (at least two seasons) before training and
forecasting, the truths unchanged: short histories on the same windows
(their records keyed apart; the tables read only the records of the cut
asked for).
``--early-stopping`` trains
the neural models on the series without their last ``H`` values and keeps
the epoch of least loss on those.

Usage::

    python benchmarks/bench_accuracy.py --split validation --data-dir DIR \\
        [--datasets m4_hourly,...] [--models mqcnn,deepar,...] [--seeds 0,1,2] \\
        [--steps 400] [--batch-size 32] [--tag NAME --mqcnn-kwargs '{"loss_units": "scaled"}'] \\
        [--output benchmarks/results/accuracy.json] [--markdown benchmarks/RESULTS.md]
"""

import argparse
import json
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _accuracy_records import environment, load_results, merge_results, record_key, save_results  # noqa: E402
from _accuracy_scoring import score  # noqa: E402
from _common import add_data_dir_option, check_data_dir, write_section  # noqa: E402

from gluonts_iqf.baselines import (  # noqa: E402
    ENSEMBLE_MEMBERS,
    baseline_quantiles,
    quantile_forecasts,
    season_length,
)

DEV_SUITE = (
    "m4_hourly", "m4_weekly", "tourism_monthly", "tourism_quarterly", "tourism_yearly",
    "ett_small_1h", "m1_monthly", "m1_quarterly", "m1_yearly",
)
NEURAL = ("mqcnn", "deepar", "tft", "patchtst")
STATS = ("seasonal_naive", "auto_ets", "auto_theta", "auto_ces", "stat_ensemble")
ALL_MODELS = NEURAL + STATS
BASELINES = tuple(m for m in ALL_MODELS if m != "mqcnn")
LABEL = {
    "mqcnn": "MQ-CNN-IQF", "deepar": "DeepAR", "tft": "TFT", "patchtst": "PatchTST",
    "seasonal_naive": "SeasonalNaive", "auto_ets": "AutoETS", "auto_theta": "AutoTheta",
    "auto_ces": "AutoCES", "stat_ensemble": "ETS/Theta/CES avg",
}
BATCHES_PER_EPOCH = 50
#: training steps of every neural model (the protocol's equal steps)
DEFAULT_STEPS = 400
#: validation windows: how many horizons each cuts off the training series
VALIDATION_CUTS = {"validation": 1, "validation2": 2, "validation3": 3, "validation4": 4, "validation5": 5}
SPLITS = tuple(VALIDATION_CUTS) + ("test",)
#: lower is better for these; the others are reported only
RATIO_METRICS = ("mean_wQuantileLoss", "MASE", "sMAPE", "coverage_error")


# --------------------------------------------------------------------------
# data windows


def history_length(horizons: int, H: int, season: int) -> int:
    """Values each series keeps with ``--max-history K``: its last ``K H``,
    but at least two seasons (the seasonal members and MASE's seasonal error
    need one pair of same-phase values)."""
    return max(horizons * H, 2 * season)


def last_values(entry: Dict[str, Any], n: int) -> Dict[str, Any]:
    """``entry`` with only its last ``n`` target values, its start moved to
    the first of them (covariates are not used by the benchmark)."""
    target = np.asarray(entry["target"])
    drop = max(len(target) - n, 0)
    return dict(entry, target=target[drop:], start=entry["start"] + drop)


def windows(name: str, data_dir: Optional[str], split: str, max_series: Optional[int],
            max_history: Optional[int] = None):
    """(metadata, training entries, forecast inputs, truths (n, H), dropped count).

    ``max_series``: only the first N series. ``max_history``: every training
    series and forecast input cut to its last :func:`history_length` values
    (short histories on the same windows; the truths are unchanged)."""
    from gluonts_iqf.datasets import load

    ds = load(name, data_dir=data_dir)
    H = ds.metadata.prediction_length
    train = list(ds.train)
    test = list(ds.test)
    if max_series:
        train, test = train[:max_series], test[:max_series]
    keep_n = history_length(max_history, H, season_length(ds.metadata.freq)) if max_history else None

    def cut_history(entries):
        return entries if keep_n is None else [last_values(e, keep_n) for e in entries]

    if split == "test":
        inputs = [dict(e, target=np.asarray(e["target"])[:-H]) for e in test]
        truth = [np.asarray(e["target"], dtype=float)[-H:] for e in test]
        return ds.metadata, cut_history(train), cut_history(inputs), truth, 0
    cut = VALIDATION_CUTS[split] * H
    keep = [e for e in train if len(e["target"]) > cut]
    inputs = cut_history([dict(e, target=np.asarray(e["target"])[:-cut]) for e in keep])
    truth = [np.asarray(e["target"], dtype=float)[len(e["target"]) - cut:][:H] for e in keep]
    return ds.metadata, inputs, inputs, truth, len(train) - len(keep)


# --------------------------------------------------------------------------
# models


def trainer_kwargs(steps: int, root: str) -> Dict[str, Any]:
    return dict(max_epochs=steps // BATCHES_PER_EPOCH, accelerator="cpu", enable_progress_bar=False,
                enable_model_summary=False, logger=False, default_root_dir=root)


def neural_estimator(model: str, freq: str, H: int, cfg: Dict[str, Any], root: str):
    common = dict(prediction_length=H, batch_size=cfg["batch_size"], num_batches_per_epoch=BATCHES_PER_EPOCH,
                  trainer_kwargs=trainer_kwargs(cfg["steps"], root))
    if model == "mqcnn":
        from gluonts_iqf import MQCNNEstimator

        return MQCNNEstimator(freq=freq, **{**common, **cfg.get("mqcnn_kwargs", {})})  # kwargs may set batch_size
    if model == "deepar":
        from gluonts.torch import DeepAREstimator

        return DeepAREstimator(freq=freq, **common)
    if model == "tft":
        from gluonts.torch import TemporalFusionTransformerEstimator

        return TemporalFusionTransformerEstimator(freq=freq, **common)
    if model == "patchtst":
        from gluonts.torch import PatchTSTEstimator

        # GluonTS's example settings: patches of 16 (at most the context),
        # context 4H (at least 32 values)
        context = max(4 * H, 32)
        return PatchTSTEstimator(patch_len=min(16, context), context_length=context, **common)
    raise ValueError(model)


def early_stopping_split(train, H: int):
    """(training series, validation series) for early stopping on the
    training series' last ``H`` values: the series without them (those with
    at most ``H + 2`` values kept whole) and the series themselves, whose last
    window GluonTS's validation loss scores."""
    short = [dict(e, target=np.asarray(e["target"])[:-H]) if len(e["target"]) > H + 2 else e for e in train]
    return short, train


def run_neural(model, metadata, train, inputs, cfg, seed):
    import lightning

    H, freq = metadata.prediction_length, metadata.freq
    with tempfile.TemporaryDirectory(prefix=f"acc_{model}_") as root:
        est = neural_estimator(model, freq, H, cfg, root)
        lightning.seed_everything(seed, verbose=False)
        t0 = time.perf_counter()
        if cfg.get("early_stopping"):
            # the epoch of least held-out loss is restored (GluonTS's checkpoint on val_loss)
            short, validation = early_stopping_split(train, H)
            predictor = est.train(short, validation_data=validation)
        else:
            predictor = est.train(train)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        forecasts = list(predictor.predict(inputs))
        predict_s = time.perf_counter() - t0
    return forecasts, train_s, predict_s


def run_stats(model, metadata, inputs) -> Tuple[np.ndarray, float, int]:
    """Quantiles (n, 19, H) at GRID (:func:`gluonts_iqf.baselines.baseline_quantiles`),
    the fit-and-forecast wall time, and the number of series too short for
    the seasonal model (refitted with season 1, as a forecaster would)."""
    H = metadata.prediction_length
    season = season_length(metadata.freq)
    # warm-up (numba compilation is not the model's time)
    baseline_quantiles(model, [10 + np.sin(np.arange(6 * season + 12.0))], H, season)
    t0 = time.perf_counter()
    q, refits = baseline_quantiles(model, [np.asarray(e["target"], dtype=np.float64) for e in inputs], H, season)
    return q, time.perf_counter() - t0, refits


def run(args) -> Dict[str, Any]:
    import logging

    import lightning.pytorch  # noqa: F401  (sets its loggers' levels on import)
    import torch

    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "gluonts"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    if args.threads:
        torch.set_num_threads(args.threads)
    path = Path(args.output)
    results = load_results(path)
    cfg = {"steps": args.steps, "batch_size": args.batch_size, "mqcnn_kwargs": args.mqcnn_kwargs,
           "early_stopping": args.early_stopping}
    for dataset in args.datasets:
        metadata, train, inputs, truth, dropped = windows(
            dataset, args.raw_data_dir, args.split, args.max_series, args.max_history)
        print(f"[{args.split}] {dataset}: {len(inputs)} windows, H={metadata.prediction_length}, "
              f"freq={metadata.freq}" + (f", {dropped} series too short" if dropped else ""), flush=True)
        stat_q: Dict[str, Tuple[np.ndarray, float, int]] = {}  # quantiles, seconds, refits; fitted once here

        def stat_quantiles(name: str) -> Tuple[np.ndarray, float, int]:
            if name not in stat_q:
                stat_q[name] = run_stats(name, metadata, inputs)
            return stat_q[name]

        for model in args.models:
            tag = args.tag if model == "mqcnn" else "default"
            seeds = args.seeds if model in NEURAL else [None]
            for seed in seeds:
                key = record_key(args.split, dataset, model, tag, seed, args.max_history)
                if key in results["records"] and not args.force:
                    continue
                predict_s, refits = 0.0, 0
                if model in NEURAL:
                    forecasts, train_s, predict_s = run_neural(model, metadata, train, inputs, cfg, seed)
                elif model == "stat_ensemble":
                    members = [stat_quantiles(m) for m in ENSEMBLE_MEMBERS]
                    forecasts = quantile_forecasts(np.mean([q for q, _, _ in members], axis=0), inputs)
                    train_s = sum(t for _, t, _ in members)
                    refits = max(r for _, _, r in members)
                else:
                    q, train_s, refits = stat_quantiles(model)
                    forecasts = quantile_forecasts(q, inputs)
                metrics = score(forecasts, inputs, truth, metadata.freq, parts=args.keep_series)
                series = metrics.pop("series", None)
                rec = {"split": args.split, "dataset": dataset, "model": model, "tag": tag, "seed": seed,
                       "metrics": metrics, "train_s": train_s, "predict_s": predict_s,
                       "windows": len(inputs), "dropped": dropped, "max_series": args.max_series,
                       "max_history": args.max_history, "season_1_refits": refits, "steps": args.steps if model in NEURAL else None,
                       "batch_size": args.batch_size if model in NEURAL else None,
                       "mqcnn_kwargs": args.mqcnn_kwargs if model == "mqcnn" else None,
                       "early_stopping": bool(args.early_stopping) if model in NEURAL else None, **environment()}
                if series is not None:
                    rec["series"] = series
                results["records"][key] = rec
                save_results(path, results)
                print(f"  {model:>14} {tag:>12} seed={seed}: wQL {metrics['mean_wQuantileLoss']:.4f} "
                      f"MASE {metrics['MASE']:.3f} sMAPE {metrics['sMAPE']:.4f} "
                      f"cov.err {metrics['coverage_error']:.3f} ({train_s + predict_s:.1f} s)", flush=True)
    return results


# --------------------------------------------------------------------------
# tables


def summarise(results: Dict[str, Any], split: str, datasets: Sequence[str], tag: str,
              max_history: Optional[int] = None) -> Dict[str, Any]:
    """Per dataset and model: mean metrics over seeds (and their min/max);
    ratios of ours to the best baseline and their geometric means. Only the
    records of histories cut to ``max_history`` horizons (None: uncut)."""
    recs = [r for r in results["records"].values() if r["split"] == split and r["dataset"] in datasets
            and r.get("max_history") == max_history]
    table: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for r in recs:
        if r["model"] == "mqcnn" and r["tag"] != tag:
            continue
        cell = table.setdefault(r["dataset"], {}).setdefault(r["model"], {"runs": []})
        cell["runs"].append(r)
    for d, models in table.items():
        for m, cell in models.items():
            runs = cell["runs"]
            # metrics every run has (records older than a metric lack it)
            keys = [k for k in runs[0]["metrics"] if all(k in r["metrics"] for r in runs)]
            cell["mean"] = {k: float(np.mean([r["metrics"][k] for r in runs])) for k in keys}
            cell["min"] = {k: float(np.min([r["metrics"][k] for r in runs])) for k in keys}
            cell["max"] = {k: float(np.max([r["metrics"][k] for r in runs])) for k in keys}
            cell["time"] = float(np.mean([r["train_s"] + r["predict_s"] for r in runs]))
            cell["seeds"] = [r["seed"] for r in runs]
    ratios: Dict[str, Dict[str, float]] = {k: {} for k in RATIO_METRICS}
    best: Dict[str, Dict[str, str]] = {k: {} for k in RATIO_METRICS}
    for d, models in table.items():
        if "mqcnn" not in models:
            continue
        for k in RATIO_METRICS:
            base = {m: c["mean"][k] for m, c in models.items() if m != "mqcnn" and math.isfinite(c["mean"][k])}
            if not base:
                continue
            b = min(base, key=base.get)
            best[k][d] = b
            ratios[k][d] = models["mqcnn"]["mean"][k] / base[b] if base[b] > 0 else float("nan")
    geo = {k: float(np.exp(np.mean(np.log(list(v.values()))))) if v else float("nan") for k, v in ratios.items()}
    return {"table": table, "ratios": ratios, "best": best, "geomean": geo}


def markdown(summary: Dict[str, Any], split: str, datasets: Sequence[str], args) -> Tuple[str, str]:
    heading = f"## Accuracy on the {split} windows"
    cut = getattr(args, "max_history", None)
    if cut:
        heading += f", histories cut to {cut} horizons"
    table, ratios, best, geo = summary["table"], summary["ratios"], summary["best"], summary["geomean"]
    models = [m for m in ALL_MODELS if any(m in table.get(d, {}) for d in datasets)]
    any_rec = next((c["runs"][0] for d in table.values() for c in d.values()), {})

    def provenance(ours: bool) -> str:
        runs = [r for d in table.values() for m, c in d.items() if (m == "mqcnn") == ours for r in c["runs"]]
        commits = sorted({r.get("commit", "?") for r in runs})
        dates = sorted(r.get("date", "?") for r in runs)
        cpus = sorted({r.get("cpu", "?") for r in runs})
        return f"`{', '.join(commits)}` ({dates[0]} to {dates[-1]}; {', '.join(cpus)})" if runs else "-"
    lines = [heading, ""]
    rule = {
        "validation": "Every default and setting of MQ-CNN-IQF is chosen on these windows (the last H values of "
                      "each training series, the test values never seen).",
        "validation2": "A second validation window, one horizon earlier (the H values before the last H of each "
                       "training series, the models trained on the series without their last 2H values). Since "
                       "2026-12-05 a change is adopted only when it wins on the validation windows and on these "
                       "(the rule in \"Accuracy: how the defaults were chosen\").",
        "validation3": "A third validation window, two horizons earlier (the H values before the last 2H of each "
                       "training series, the models trained on the series without their last 3H values): a check "
                       "of the choices made on the other two; nothing is chosen here.",
        "validation4": "A fourth validation window, three horizons earlier (the H values before the last 3H of each "
                       "training series, the models trained on the series without their last 4H values): with the "
                       "third and the test windows, a held-out window of a rolling origin; nothing is chosen here.",
        "validation5": "A fifth validation window, four horizons earlier (the H values before the last 4H of each "
                       "training series, the models trained on the series without their last 5H values): another "
                       "held-out window of the rolling origin; nothing is chosen here.",
        "test": "Each reported configuration is scored once on these windows (the datasets' standard test "
                "windows); nothing is chosen here.",
    }[split]
    if cut:
        rule = (f"The same windows with short histories: every series cut to its last {cut} horizons (at "
                f"least two seasons) before training and forecasting, the truths unchanged. " + rule)
    lines += [rule, "",
              f"Command: `python benchmarks/bench_accuracy.py --split {split} --data-dir DIR "
              f"--datasets {','.join(datasets)} --steps {args.steps} --batch-size {args.batch_size} "
              f"--seeds {','.join(str(s) for s in args.seeds)} --tag {args.tag}"
              + (f" --max-history {cut}" if cut else "") + "`  ",
              f"Code: MQ-CNN-IQF rows {provenance(True)}, baselines {provenance(False)}; versions "
              f"{json.dumps(any_rec.get('versions', {}))}  ",
              f"Neural models: {args.steps} steps of batch {args.batch_size}, training seeds "
              f"{', '.join(str(s) for s in args.seeds)} (mean shown, min-max in the JSON); MQ-CNN-IQF "
              f"configuration `{args.tag}`: {json.dumps(args.mqcnn_kwargs) if args.mqcnn_kwargs else 'defaults'}.",
              ""]
    for metric, title in (("mean_wQuantileLoss", "mean wQL (0.1..0.9)"), ("MASE", "MASE"),
                          ("sMAPE", "sMAPE"), ("coverage_error", "mean |coverage - level| over 0.05..0.95")):
        lines += [f"**{title}** (bold: best; last column: ours / best baseline)", "",
                  "| dataset | " + " | ".join(LABEL[m] for m in models) + " | ratio |",
                  "|---|" + "---:|" * (len(models) + 1)]
        for d in datasets:
            row = table.get(d, {})
            vals = {m: row[m]["mean"][metric] for m in models if m in row}
            low = min(vals.values()) if vals else None
            cells = []
            for m in models:
                v = vals.get(m)
                cells.append("" if v is None else (f"**{v:.4f}**" if v == low else f"{v:.4f}"))
            r = ratios[metric].get(d)
            ratio = "" if r is None else f"{r:.3f} ({LABEL[best[metric][d]]})"
            lines.append(f"| {d} | " + " | ".join(cells) + f" | {ratio} |")
        lines += ["", f"Geometric mean of ours / best baseline: **{geo[metric]:.3f}**", ""]
    lines += ["**Coverage at 0.1 / 0.5 / 0.9, crossing rate and time (train + predict, s)**", "",
              "| dataset | model | cov 0.1 | cov 0.5 | cov 0.9 | crossings | time |", "|---|---|---:|---:|---:|---:|---:|"]
    for d in datasets:
        for m in models:
            c = table.get(d, {}).get(m)
            if c is None:
                continue
            mm = c["mean"]
            lines.append(f"| {d} | {LABEL[m]} | {mm['Coverage[0.1]']:.3f} | {mm['Coverage[0.5]']:.3f} | "
                         f"{mm['Coverage[0.9]']:.3f} | {mm['crossing_rate']:.4f} | {c['time']:.1f} |")
    lines.append("")
    return "\n".join(lines), heading


def compare_tags(results: Dict[str, Any], split: str, datasets: Sequence[str], tags: Sequence[str],
                 max_history: Optional[int] = None) -> Tuple[str, str]:
    """Markdown table of MQ-CNN-IQF configurations (tags) on ``split``: per
    dataset ours / best baseline for mean wQL and MASE (seed means), their
    geometric means, and the seeds and settings of each tag (a tag run with
    the defaults names the commits it ran at). ``max_history`` as
    :func:`summarise`."""
    heading = f"## Accuracy levers on the {split} windows"
    if max_history:
        heading += f", histories cut to {max_history} horizons"
    lines = [heading, "",
             "Each MQ-CNN-IQF configuration (tag) against the best baseline of each dataset and metric "
             "(the baselines of the section above), mean over the tag's seeds; `wQL | MASE` per cell; "
             "bold: the lower geometric mean of each metric.", ""]
    rows = []
    for tag in tags:
        summ = summarise(results, split, datasets, tag, max_history)
        runs = [r for r in results["records"].values()
                if r["split"] == split and r["model"] == "mqcnn" and r["tag"] == tag
                and r.get("max_history") == max_history]
        if not runs:
            continue
        seeds = sorted({r["seed"] for r in runs})
        kwargs = runs[0].get("mqcnn_kwargs") or {}
        commits = sorted({str(r.get("commit", "?")).replace("+dirty", "") for r in runs})
        # a tag may set something per dataset (e.g. a context length): then each dataset's settings
        per_dataset = {r["dataset"]: json.dumps(r.get("mqcnn_kwargs") or {}, sort_keys=True) for r in runs}
        rows.append((tag, summ, seeds, kwargs, bool(runs[0].get("early_stopping")), commits, runs[0].get("steps"),
                     per_dataset))
    best = {k: min(r[1]["geomean"][k] for r in rows) for k in ("mean_wQuantileLoss", "MASE")} if rows else {}
    lines += ["| tag | settings | seeds | " + " | ".join(datasets) + " | geo wQL | geo MASE |",
              "|---|---|---|" + "---:|" * (len(datasets) + 2)]
    for tag, summ, seeds, kwargs, early, commits, steps, per_dataset in rows:
        cells = []
        for d in datasets:
            w, m = summ["ratios"]["mean_wQuantileLoss"].get(d), summ["ratios"]["MASE"].get(d)
            cells.append("" if w is None else f"{w:.3f} \\| {m:.3f}")
        geo = []
        for k in ("mean_wQuantileLoss", "MASE"):
            v = summ["geomean"][k]
            geo.append(f"**{v:.3f}**" if v == best[k] else f"{v:.3f}")
        # the defaults change over time: name the code they were measured with
        setting = "`" + json.dumps(kwargs) + "`" if kwargs else "defaults of " + ", ".join(commits)
        if len(set(per_dataset.values())) > 1:
            setting = "per dataset: " + "; ".join(f"{d} `{per_dataset[d]}`" for d in datasets if d in per_dataset)
        if early:
            setting += ", early stopping on the training series' last H values"
        if steps is not None and steps != DEFAULT_STEPS:
            setting += f", {steps} training steps (the baselines' {DEFAULT_STEPS})"
        lines.append(f"| {tag} | {setting} | {','.join(str(x) for x in seeds)} | " + " | ".join(cells)
                     + f" | {geo[0]} | {geo[1]} |")
    lines.append("")
    return "\n".join(lines), heading


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--split", choices=SPLITS, required=True)
    p.add_argument("--datasets", default=",".join(DEV_SUITE))
    p.add_argument("--models", default=",".join(ALL_MODELS))
    p.add_argument("--seeds", default="0", help="training seeds of the neural models")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--tag", default="default", help="name of the MQ-CNN-IQF configuration")
    p.add_argument("--mqcnn-kwargs", default="{}", help="JSON of MQCNNEstimator keyword arguments")
    p.add_argument("--output", default="benchmarks/results/accuracy.json")
    p.add_argument("--markdown", default="", help="file whose section of this split is rewritten")
    p.add_argument("--summary-only", action="store_true", help="only rebuild the tables from --output")
    p.add_argument("--merge", default="", help="comma-separated result files whose records are added to --output")
    p.add_argument("--compare", default="", help="comma-separated tags: also render the lever table of these")
    p.add_argument("--early-stopping", action="store_true",
                   help="neural models train on the series without their last H values and keep the epoch "
                        "of least loss on those (GluonTS's validation_data); use with a --tag of its own")
    p.add_argument("--force", action="store_true", help="recompute records that exist")
    p.add_argument("--keep-series", action="store_true",
                   help="keep each record's per-series parts of the metrics (for accuracy_bootstrap.py); "
                        "records already in --output are not rerun without --force")
    p.add_argument("--max-series", type=int, default=None)
    p.add_argument("--max-history", type=int, default=None, metavar="K",
                   help="cut every series to its last K horizons (at least two seasons) of history")
    p.add_argument("--threads", type=int, default=1)
    add_data_dir_option(p)
    args = p.parse_args(argv)
    args.datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in args.models if m not in ALL_MODELS]
    if bad:
        p.error(f"unknown model(s) {bad}; choose from {', '.join(ALL_MODELS)}")
    if args.steps < BATCHES_PER_EPOCH or args.steps % BATCHES_PER_EPOCH:
        p.error(f"--steps must be a positive multiple of {BATCHES_PER_EPOCH}")
    if args.max_history is not None and args.max_history < 1:
        p.error(f"--max-history must be at least 1 horizon, got {args.max_history}")
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    try:
        args.mqcnn_kwargs = json.loads(args.mqcnn_kwargs)
    except json.JSONDecodeError as err:
        p.error(f"--mqcnn-kwargs is not JSON: {err}")
    args.raw_data_dir = check_data_dir(p, args.data_dir, args.datasets)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.merge:
        merge_results(Path(args.output), [f for f in args.merge.split(",") if f])
    results = load_results(Path(args.output)) if args.summary_only else run(args)
    summary = summarise(results, args.split, args.datasets, args.tag, args.max_history)
    text, heading = markdown(summary, args.split, args.datasets, args)
    print(text)
    if args.markdown:
        write_section(Path(args.markdown), heading, text)
    if args.compare:
        table, theading = compare_tags(results, args.split, args.datasets, [t for t in args.compare.split(",") if t],
                                       args.max_history)
        print(table)
        if args.markdown:
            write_section(Path(args.markdown), theading, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
