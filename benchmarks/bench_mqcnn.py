#!/usr/bin/env python
"""Benchmark: MQ-CNN-IQF vs GluonTS torch models and statistical baselines.

For each dataset (loaded offline with :func:`gluonts_iqf.datasets.load`):

* neural models train on ``ds.train`` with the SAME batch size and number of
  gradient steps (``num_batches_per_epoch=50``, ``max_epochs=steps/50``):

  - ``mqcnn``: :class:`gluonts_iqf.MQCNNEstimator` with its default
    ``IQFOutput()`` head (closed-form CRPS loss);
  - ``deepar``: ``gluonts.torch.DeepAREstimator`` (Student-t output);
  - ``sff``: ``gluonts.torch.SimpleFeedForwardEstimator`` (Student-t);
  - ``tft``: ``gluonts.torch.TemporalFusionTransformerEstimator`` (quantile
    head at 0.1, ..., 0.9);

  all other settings are the libraries' defaults;
* ``seasonal_naive`` and ``auto_ets``: statsforecast ``SeasonalNaive`` and
  ``AutoETS`` fitted per series on the forecast input window (the test series
  minus its last ``prediction_length`` values, which for these single-window
  datasets equals the training series), with quantiles read off their
  Gaussian prediction intervals: ``level=[10, 20, ..., 90]`` gives the lower
  bounds at levels 0.05, 0.10, ..., 0.45, the upper bounds at 0.55, ...,
  0.95, and the point forecast is the median (the intervals are symmetric).
  They become GluonTS ``QuantileForecast`` objects with keys "0.05", ...,
  "0.95" and "mean", so the same ``Evaluator`` scores them.

Every model forecasts the standard test split
(``make_evaluation_predictions(ds.test, predictor)``: the last
``prediction_length`` values of each test series) and is scored with GluonTS's
``Evaluator(quantiles=[0.1, ..., 0.9], num_workers=0)`` (mean weighted
quantile loss, MASE, ND, coverage at 0.1/0.5/0.9), plus coverage at 0.05 and
0.95 (``forecast.quantile``) and the quantile-crossing rate on levels 0.05,
0.10, ..., 0.95 (:func:`gluonts_iqf.metrics.crossing_rate`). Wall times
(``time.perf_counter``): training (``estimator.train`` / statsforecast
``fit`` over all series) and prediction (forecasting every test series, the
forecasts materialised). Each (dataset, model) runs in its own freshly
spawned process (unless ``--no-isolate``), so its peak RSS
(``resource.getrusage``) is its own: interpreter + libraries + dataset +
model. ``lightning.seed_everything(seed)`` runs before each model.

Usage::

    python benchmarks/bench_mqcnn.py \\
        --datasets m4_hourly,tourism_monthly,tourism_quarterly,m4_weekly,ett_small_1h \\
        --steps 400 --batch-size 32 --seed 0 --data-dir DIR \\
        --output benchmarks/results/mqcnn.json \\
        [--models mqcnn,deepar,sff,tft,seasonal_naive,auto_ets] \\
        [--mqcnn-forking F] [--mqcnn-context C] [--threads N] \\
        [--max-series N] [--markdown benchmarks/RESULTS.md] [--no-isolate]

``--data-dir DIR`` is the folder of the raw benchmark files (default
``$GLUONTS_IQF_DATA_DIR``; one of the two is required unless the only dataset
is the embedded m4_hourly).

Results go to ``--output`` (JSON, rewritten after every model) and to the
section ``## MQ-CNN-IQF vs GluonTS models and statistical baselines`` of
``--markdown`` (created if missing; only that section is replaced). The
project's targets: MQ-CNN's mean wQL no worse than the best of the five
baselines on every dataset and strictly better on most; MQ-CNN's total
(training + prediction) wall time at most half of DeepAR's at equal steps;
zero quantile crossings.
"""

import argparse
import datetime as _dt
import json
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    REPO,
    add_data_dir_option,
    check_data_dir,
    cpu_model as _cpu_model,
    package_version as _version,
    rel as _rel,
    write_section,
)
SECTION = "## MQ-CNN-IQF vs GluonTS models and statistical baselines"

ALL_MODELS = ("mqcnn", "deepar", "sff", "tft", "seasonal_naive", "auto_ets")
NEURAL = ("mqcnn", "deepar", "sff", "tft")
DEFAULT_DATASETS = (
    "m4_hourly",
    "tourism_monthly",
    "tourism_quarterly",
    "m4_weekly",
    "ett_small_1h",
)
MODEL_LABEL = {
    "mqcnn": "MQ-CNN-IQF (ours)",
    "deepar": "DeepAR (Student-t)",
    "sff": "SimpleFeedForward",
    "tft": "TFT",
    "seasonal_naive": "SeasonalNaive",
    "auto_ets": "AutoETS",
}
EVAL_QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# 0.05, 0.10, ..., 0.95: the crossing-rate grid and the statsforecast keys
CROSS_LEVELS = tuple(round(0.05 * i, 2) for i in range(1, 20))
INTERVAL_LEVELS = tuple(range(10, 100, 10))  # statsforecast `level=` (in %)
BATCHES_PER_EPOCH = 50
# Season lengths of the statistical baselines, per frequency (statsforecast
# 2.x's AutoETS accepts m = 52: it fits seasonal models with 52 states).
SEASON_LENGTH = {"h": 24, "H": 24, "1h": 24, "W": 52, "M": 12, "Q": 4, "Y": 1}
# Reference mean wQL (levels 0.1..0.9) measured earlier by the project lead at
# 400 steps of batch 32: a sanity check of this harness.
REFERENCE_WQL = {
    "m4_hourly": {
        "seasonal_naive": 0.0376,
        "deepar": 0.0578,
        "tft": 0.0630,
        "auto_ets": 0.0696,
        "sff": 0.0871,
    },
    "tourism_monthly": {
        "seasonal_naive": 0.0860,
        "deepar": 0.0990,
        "auto_ets": 0.1002,
    },
}


# --------------------------------------------------------------------------
# command line


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="MQ-CNN-IQF vs GluonTS models and statistical baselines",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--datasets", default=",".join(DEFAULT_DATASETS),
                   help="comma-separated dataset names (gluonts_iqf.datasets)")
    p.add_argument("--models", default=",".join(ALL_MODELS),
                   help=f"comma-separated subset of {','.join(ALL_MODELS)}")
    p.add_argument("--steps", type=int, default=400,
                   help="gradient steps of every neural model (multiple of 50)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    add_data_dir_option(p)
    p.add_argument("--output", default="benchmarks/results/mqcnn.json")
    p.add_argument("--markdown", default="benchmarks/RESULTS.md",
                   help=f"markdown file whose '{SECTION}' section is (re)written; '' to skip")
    p.add_argument("--mqcnn-forking", type=_check_size, default=None,
                   help="MQ-CNN num_forking: an integer, or a multiple of the prediction "
                        "length like '1H'; capped at the context length (default: the "
                        "estimator's)")
    p.add_argument("--mqcnn-context", type=_check_size, default=None,
                   help="MQ-CNN context_length: an integer, or a multiple of the prediction "
                        "length like '2H' (default: the estimator's)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads(N) in every run (default: torch's own)")
    p.add_argument("--max-series", type=int, default=None,
                   help="use only the first N series of each dataset (smoke tests)")
    p.add_argument("--no-isolate", action="store_true",
                   help="run every model in this process (peak RSS is then cumulative)")
    args = p.parse_args(argv)
    args.datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    args.raw_data_dir = check_data_dir(p, args.data_dir, args.datasets)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in args.models if m not in ALL_MODELS]
    if bad:
        p.error(f"unknown model(s) {bad}; choose from {ALL_MODELS}")
    if args.steps < 1 or args.steps % BATCHES_PER_EPOCH:
        p.error(f"--steps must be a positive multiple of {BATCHES_PER_EPOCH}")
    if args.batch_size < 1:
        p.error("--batch-size must be positive")
    return args


# --------------------------------------------------------------------------
# one (dataset, model) run -- executed in a child process by default


def _quiet() -> None:
    import logging
    import warnings

    import lightning.pytorch  # noqa: F401  (sets its loggers' levels on import)

    for name in ("lightning", "lightning.pytorch", "pytorch_lightning",
                 "lightning.fabric", "gluonts"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # Known noise: Lightning's "few dataloader workers" / "no val loader"
    # hints, GluonTS's indexing deprecation and "mean not stored" notes,
    # statsforecast/numba deprecation notes.
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    warnings.filterwarnings("ignore", message="Using a non-tuple sequence")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def _load(cfg: Dict[str, Any]):
    from gluonts_iqf.datasets import load

    ds = load(cfg["dataset"], data_dir=cfg["data_dir"])
    train, test = list(ds.train), list(ds.test)
    n = cfg.get("max_series")
    if n:
        train, test = train[:n], test[:n]
    return ds.metadata, train, test


def _trainer_kwargs(cfg: Dict[str, Any], root: str) -> Dict[str, Any]:
    return dict(
        max_epochs=cfg["steps"] // BATCHES_PER_EPOCH,
        accelerator="cpu",
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        default_root_dir=root,
    )


def horizon_multiple(value: Optional[str], H: int) -> Optional[int]:
    """``None`` -> None; ``"96"`` -> 96; ``"2H"`` -> 2 * H (H = prediction_length)."""
    if value is None:
        return None
    v = str(value).strip()
    if v.upper().endswith("H"):
        return max(1, int(round(float(v[:-1] or 1) * H)))
    return int(v)


def _check_size(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    v = value.strip()
    try:
        n = float(v[:-1] or 1) if v.upper().endswith("H") else int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or a multiple of H like '2H', got {value!r}")
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value!r}")
    return v


def _neural_estimator(model: str, freq: str, H: int, cfg: Dict[str, Any], root: str):
    common = dict(
        prediction_length=H,
        batch_size=cfg["batch_size"],
        num_batches_per_epoch=BATCHES_PER_EPOCH,
        trainer_kwargs=_trainer_kwargs(cfg, root),
    )
    if model == "mqcnn":
        from gluonts_iqf import MQCNNEstimator

        context = horizon_multiple(cfg.get("mqcnn_context"), H)
        forking = horizon_multiple(cfg.get("mqcnn_forking"), H)
        if forking is not None:  # never more forks than context positions
            forking = min(forking, context or MQCNNEstimator(freq=freq, prediction_length=H).context_length)
        return MQCNNEstimator(
            freq=freq, context_length=context, num_forking=forking, **common
        )
    if model == "deepar":
        from gluonts.torch import DeepAREstimator

        return DeepAREstimator(freq=freq, **common)
    if model == "sff":
        from gluonts.torch import SimpleFeedForwardEstimator

        return SimpleFeedForwardEstimator(**common)
    if model == "tft":
        from gluonts.torch import TemporalFusionTransformerEstimator

        return TemporalFusionTransformerEstimator(freq=freq, **common)
    raise ValueError(model)


def _estimator_settings(est) -> Dict[str, Any]:
    """Every constructor argument of ``est``, resolved to the value the
    estimator uses where it keeps one (``context_length=None`` -> 96, ...)."""
    skip = {"trainer_kwargs", "train_sampler", "validation_sampler", "distr_output"}
    out: Dict[str, Any] = {}
    for k, v in getattr(est, "__init_args__", {}).items():
        if k in skip:
            continue
        out[k] = getattr(est, k, v)
    distr = getattr(est, "distr_output", None)
    if distr is not None:
        out["distr_output"] = type(distr).__name__
        for k in ("knot_levels", "num_pieces", "loss_name", "tails"):
            if hasattr(distr, k):
                out[f"distr_{k}"] = getattr(distr, k)
    out["trainer_kwargs"] = {k: v for k, v in est.trainer_kwargs.items()
                             if k != "default_root_dir"}
    return json.loads(json.dumps(out, default=lambda o: repr(o)))


def _run_neural(model, metadata, train, test, cfg):
    import tempfile

    import lightning
    from gluonts.evaluation import make_evaluation_predictions

    H, freq = metadata.prediction_length, metadata.freq
    with tempfile.TemporaryDirectory(prefix=f"bench_{model}_") as root:
        est = _neural_estimator(model, freq, H, cfg, root)
        settings = _estimator_settings(est)
        lightning.seed_everything(cfg["seed"], verbose=False)
        t0 = time.perf_counter()
        predictor = est.train(train)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        forecast_it, ts_it = make_evaluation_predictions(test, predictor)
        forecasts = list(forecast_it)
        predict_s = time.perf_counter() - t0
        tss = list(ts_it)
    return forecasts, tss, train_s, predict_s, settings


def _run_stats(model, metadata, test, cfg):
    import warnings

    import numpy as np
    import pandas as pd
    from gluonts.model.forecast import QuantileForecast
    from statsforecast.models import AutoETS, SeasonalNaive

    H, freq = metadata.prediction_length, metadata.freq
    m = SEASON_LENGTH.get(freq, 1)
    levels = list(INTERVAL_LEVELS)

    def make(season: int):
        return SeasonalNaive(season_length=season) if model == "seasonal_naive" \
            else AutoETS(season_length=season)

    # warm-up on a synthetic series (JIT compilation / first-call setup is
    # not counted in the timings)
    warm = 10.0 + np.sin(np.arange(4 * m + 20, dtype=float))
    make(m).fit(warm).predict(h=H, level=levels)

    inputs = [np.asarray(e["target"], dtype=np.float64)[:-H] for e in test]
    fitted, fallbacks = [], []
    t0 = time.perf_counter()
    for i, y in enumerate(inputs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fitted.append(make(m).fit(y))
            except Exception as exc:  # e.g. too short for a seasonal model
                fallbacks.append({"series": i, "error": repr(exc)[:200]})
                fitted.append(make(1).fit(y))
    train_s = time.perf_counter() - t0

    keys = [str(q) for q in CROSS_LEVELS] + ["mean"]
    forecasts = []
    t0 = time.perf_counter()
    for e, y, fm in zip(test, inputs, fitted):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = fm.predict(h=H, level=levels)
        rows = [p[f"lo-{L}"] for L in reversed(levels)]  # 0.05 .. 0.45
        rows.append(p["mean"])  # 0.5
        rows += [p[f"hi-{L}"] for L in levels]  # 0.55 .. 0.95
        rows.append(p["mean"])
        arr = np.asarray(rows, dtype=np.float64)
        forecasts.append(
            QuantileForecast(
                forecast_arrays=arr,
                start_date=e["start"] + (len(e["target"]) - H),
                forecast_keys=keys,
                item_id=e.get("item_id"),
            )
        )
    predict_s = time.perf_counter() - t0

    tss = []
    for e in test:
        idx = pd.period_range(start=e["start"], periods=len(e["target"]), freq=e["start"].freq)
        tss.append(pd.DataFrame(np.asarray(e["target"], dtype=np.float64), index=idx))
    settings = {
        "library": "statsforecast",
        "class": "SeasonalNaive" if model == "seasonal_naive" else "AutoETS",
        "season_length": m,
        "interval_levels": levels,
        "fitted_on": "test series minus the last prediction_length values",
        "num_fallback_season_1": len(fallbacks),
        "fallbacks": fallbacks[:20],
    }
    return forecasts, tss, train_s, predict_s, settings


def _evaluate(forecasts, tss, test, H) -> Dict[str, float]:
    import numpy as np
    from gluonts.evaluation import Evaluator

    from gluonts_iqf.metrics import coverage, crossing_rate

    from gluonts.env import env

    with env._let(use_tqdm=False):  # no "Running evaluation" progress bar
        agg, _ = Evaluator(quantiles=list(EVAL_QUANTILES), num_workers=0)(
            iter(tss), iter(forecasts), num_series=len(forecasts)
        )
    targets = [np.asarray(e["target"], dtype=float)[-H:] for e in test]
    return {
        "mean_wQuantileLoss": float(agg["mean_wQuantileLoss"]),
        "MASE": float(agg["MASE"]),
        "ND": float(agg["ND"]),
        "Coverage[0.05]": float(coverage(forecasts, targets, 0.05)),
        "Coverage[0.1]": float(agg["Coverage[0.1]"]),
        "Coverage[0.5]": float(agg["Coverage[0.5]"]),
        "Coverage[0.9]": float(agg["Coverage[0.9]"]),
        "Coverage[0.95]": float(coverage(forecasts, targets, 0.95)),
        "crossing_rate": float(crossing_rate(forecasts, CROSS_LEVELS)),
        **{f"wQuantileLoss[{q}]": float(agg[f"wQuantileLoss[{q}]"]) for q in EVAL_QUANTILES},
    }


def run_one(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Train/fit, forecast and score one model on one dataset."""
    import resource

    import torch

    _quiet()
    if cfg.get("threads"):
        torch.set_num_threads(cfg["threads"])
    model = cfg["model"]
    code = git_state()  # the code this process imports
    metadata, train, test = _load(cfg)
    H = metadata.prediction_length
    if model in NEURAL:
        forecasts, tss, train_s, predict_s, settings = _run_neural(model, metadata, train, test, cfg)
    else:
        forecasts, tss, train_s, predict_s, settings = _run_stats(model, metadata, test, cfg)
    t0 = time.perf_counter()
    metrics = _evaluate(forecasts, tss, test, H)
    eval_s = time.perf_counter() - t0
    return {
        "dataset": cfg["dataset"],
        "model": model,
        "freq": str(metadata.freq),
        "prediction_length": H,
        "num_train_series": len(train),
        "num_test_series": len(test),
        "metrics": metrics,
        "train_s": train_s,
        "predict_s": predict_s,
        "total_s": train_s + predict_s,
        "eval_s": eval_s,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "torch_threads": torch.get_num_threads(),
        "settings": settings,
        "code": code,
    }


def _child(cfg: Dict[str, Any], conn) -> None:
    try:
        conn.send(("ok", run_one(cfg)))
    except BaseException as exc:  # report, never hang the parent
        import traceback

        conn.send(("error", f"{exc!r}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def run_isolated(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """:func:`run_one` in a freshly spawned process (own peak RSS)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(cfg, child))
    proc.start()
    child.close()
    try:
        status, payload = parent.recv()
    except EOFError:
        status, payload = "error", "child process died without a result"
    proc.join()
    if status != "ok":
        raise RuntimeError(f"{cfg['dataset']}/{cfg['model']} failed (exit {proc.exitcode}): {payload}")
    return payload


# --------------------------------------------------------------------------
# environment, summaries, output


def git_state() -> Dict[str, Any]:
    """Commit of the repository and uncommitted changes under ``gluonts_iqf/``
    (the package is installed editable: each run imports the code on disk)."""
    import subprocess

    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True,
                              timeout=30).stdout

    import gluonts_iqf

    pkg = Path(gluonts_iqf.__file__).resolve().parent
    # imported from elsewhere than this checkout (e.g. PYTHONPATH pointing at a
    # `git archive` export of HEAD, so that edits during the run cannot leak in):
    # the checkout's uncommitted changes are not what ran
    frozen = Path(REPO).resolve() not in pkg.parents
    try:
        return {
            "commit": git("rev-parse", "--short=12", "HEAD").strip() or None,
            "package_changes": [] if frozen else [
                l[3:] for l in git("status", "--porcelain", "--", "gluonts_iqf").splitlines() if len(l) > 3
            ],
            "imported_from": str(pkg) if frozen else None,
        }
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "package_changes": [], "imported_from": str(pkg) if frozen else None}


def environment(args: argparse.Namespace) -> Dict[str, Any]:
    import torch

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "cpus_available": affinity,
        "torch_threads": args.threads or torch.get_num_threads(),
        "threads_arg": args.threads,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "git": git_state(),
        "versions": {
            name: _version(name)
            for name in ("torch", "gluonts", "lightning", "statsforecast",
                         "numpy", "pandas", "gluonts-iqf")
        },
    }


def summarize(results: List[Dict[str, Any]], datasets: List[str]) -> Dict[str, Any]:
    per: Dict[str, Any] = {}
    for d in datasets:
        rows = {r["model"]: r for r in results if r["dataset"] == d}
        if not rows:
            continue
        s: Dict[str, Any] = {}
        mq = rows.get("mqcnn")
        others = {m: r["metrics"]["mean_wQuantileLoss"] for m, r in rows.items() if m != "mqcnn"}
        if others:
            best = min(others, key=others.get)
            s["best_other_model"] = best
            s["best_other_wql"] = others[best]
        if mq is not None:
            s["mqcnn_wql"] = mq["metrics"]["mean_wQuantileLoss"]
            s["mqcnn_crossing_rate"] = mq["metrics"]["crossing_rate"]
            if others:
                s["mqcnn_wql_le_best_other"] = s["mqcnn_wql"] <= s["best_other_wql"]
                s["mqcnn_wql_lt_best_other"] = s["mqcnn_wql"] < s["best_other_wql"]
                s["mqcnn_wql_over_best_other"] = s["mqcnn_wql"] / s["best_other_wql"]
                s["mqcnn_wql_rank"] = 1 + sum(v < s["mqcnn_wql"] for v in others.values())
            if "deepar" in rows:
                s["mqcnn_total_s"] = mq["total_s"]
                s["deepar_total_s"] = rows["deepar"]["total_s"]
                s["time_ratio_mqcnn_over_deepar"] = mq["total_s"] / rows["deepar"]["total_s"]
        per[d] = s
    done = [d for d in per if "mqcnn_wql_le_best_other" in per[d]]
    timed = [d for d in per if "time_ratio_mqcnn_over_deepar" in per[d]]
    crossed = [d for d in per if "mqcnn_crossing_rate" in per[d]]
    overall = {
        "datasets_compared": done,
        "wql_no_worse_count": sum(per[d]["mqcnn_wql_le_best_other"] for d in done),
        "wql_strictly_better_count": sum(per[d]["mqcnn_wql_lt_best_other"] for d in done),
        "time_half_count": sum(per[d]["time_ratio_mqcnn_over_deepar"] <= 0.5 for d in timed),
        "datasets_timed": timed,
        "zero_crossing_count": sum(per[d]["mqcnn_crossing_rate"] == 0 for d in crossed),
        "datasets_crossing": crossed,
    }
    if timed:
        mq_sum = sum(per[d]["mqcnn_total_s"] for d in timed)
        da_sum = sum(per[d]["deepar_total_s"] for d in timed)
        overall["time_ratio_all_datasets"] = mq_sum / da_sum
    overall["target_wql_met"] = bool(done) and overall["wql_no_worse_count"] == len(done) \
        and overall["wql_strictly_better_count"] > len(done) / 2
    overall["target_time_met"] = bool(timed) and overall["time_half_count"] == len(timed)
    overall["target_crossing_met"] = bool(crossed) and overall["zero_crossing_count"] == len(crossed)
    return {"per_dataset": per, "overall": overall}


def _fmt(x: Optional[float], nd: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{nd}f}"


def _secs(x: float) -> str:
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def dataset_table(results: List[Dict[str, Any]], dataset: str, markdown: bool) -> List[str]:
    rows = sorted((r for r in results if r["dataset"] == dataset),
                  key=lambda r: r["metrics"]["mean_wQuantileLoss"])
    head = ["model", "mean wQL", "MASE", "cov 0.05", "cov 0.5", "cov 0.95",
            "crossing", "train s", "predict s", "total s", "peak RSS MiB"]
    body = []
    for r in rows:
        m = r["metrics"]
        name = MODEL_LABEL[r["model"]]
        if markdown and r["model"] == "mqcnn":
            name = f"**{name}**"
        body.append([
            name, _fmt(m["mean_wQuantileLoss"]), _fmt(m["MASE"], 3),
            _fmt(m["Coverage[0.05]"], 3), _fmt(m["Coverage[0.5]"], 3),
            _fmt(m["Coverage[0.95]"], 3), _fmt(m["crossing_rate"], 4),
            _secs(r["train_s"]), _secs(r["predict_s"]), _secs(r["total_s"]),
            f"{r['peak_rss_mib']:.0f}",
        ])
    if markdown:
        out = ["| " + " | ".join(head) + " |",
               "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
        out += ["| " + " | ".join(b) + " |" for b in body]
        return out
    widths = [max(len(head[i]), *(len(b[i]) for b in body)) for i in range(len(head))]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return [line(head)] + [line(b) for b in body]


def _rank_text(summary, results, dataset) -> str:
    s = summary["per_dataset"].get(dataset, {})
    n = sum(r["dataset"] == dataset for r in results)
    return f"rank {s.get('mqcnn_wql_rank', '?')} of {n}"


def verdict_lines(summary, results, dataset) -> List[str]:
    s = summary["per_dataset"].get(dataset, {})
    out = []
    if "mqcnn_wql_le_best_other" in s:
        ok = s["mqcnn_wql_le_best_other"]
        out.append(
            f"MQ-CNN mean wQL {s['mqcnn_wql']:.4f} vs best other model "
            f"({MODEL_LABEL[s['best_other_model']]}) {s['best_other_wql']:.4f}: "
            f"{'no worse' if ok else 'WORSE'} ({s['mqcnn_wql_over_best_other']:.2f}x; "
            f"{_rank_text(summary, results, dataset)})"
        )
    if "time_ratio_mqcnn_over_deepar" in s:
        ratio = s["time_ratio_mqcnn_over_deepar"]
        out.append(
            f"MQ-CNN total / DeepAR total = {_secs(s['mqcnn_total_s'])} s / "
            f"{_secs(s['deepar_total_s'])} s = {ratio:.2f} "
            f"(target <= 0.5: {'met' if ratio <= 0.5 else 'NOT met'})"
        )
    if "mqcnn_crossing_rate" in s:
        c = s["mqcnn_crossing_rate"]
        out.append(f"MQ-CNN crossing rate {c:.4g} (target 0: {'met' if c == 0 else 'NOT met'})")
    return out


def sanity_lines(results: List[Dict[str, Any]]) -> List[str]:
    out = []
    for d, refs in REFERENCE_WQL.items():
        got = {r["model"]: r["metrics"]["mean_wQuantileLoss"] for r in results if r["dataset"] == d}
        parts = [f"{MODEL_LABEL[m]} {got[m]:.4f} (ref {v:.4f})" for m, v in refs.items() if m in got]
        if parts:
            out.append(f"{d}: " + ", ".join(parts))
    return out


def markdown_section(payload: Dict[str, Any]) -> str:
    env, cfg, res, summ = payload["environment"], payload["config"], payload["results"], payload["summary"]
    ov = summ["overall"]
    v = env["versions"]
    L = [SECTION, ""]
    L.append(f"Command: `{payload['command']}`  ")
    L.append(f"Date: {payload['date_utc']} (UTC), {payload['wall_s']:.0f} s in all  ")
    L.append(
        f"Hardware: {env['cpu_model']}, {env['cpus_available']} logical CPU(s) available "
        f"(shared with other jobs; load average {payload['loadavg_start']} at the start, "
        f"{payload['loadavg_end']} at the end), torch threads {env['torch_threads']}, "
        f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']}, device cpu  "
    )
    L.append(
        f"Versions: Python {env['python']}, torch {v['torch']}, gluonts {v['gluonts']}, "
        f"lightning {v['lightning']}, statsforecast {v['statsforecast']}, numpy {v['numpy']}, "
        f"pandas {v['pandas']}  "
    )
    codes = sorted({(r.get("code") or {}).get("commit") or "?" for r in res})
    dirty = sorted({p for r in res for p in (r.get("code") or {}).get("package_changes", [])})
    L.append(
        f"Code: gluonts-iqf commit {', '.join(codes)}"
        + (" (the commit changed during the run: rows differ in code, see the JSON)" if len(codes) > 1 else "")
        + (f"; uncommitted changes in {', '.join(dirty)}" if dirty else ", no uncommitted changes under gluonts_iqf/")
        + (" (every row imported a frozen export of that commit, not the checkout)"
           if res and all((r.get("code") or {}).get("imported_from") for r in res) else "")
        + "  "
    )
    L.append(
        f"Setup: seed {cfg['seed']} (`lightning.seed_everything` before each model); every neural "
        f"model {cfg['steps']} gradient steps of batch {cfg['batch_size']} "
        f"({BATCHES_PER_EPOCH} batches x {cfg['steps'] // BATCHES_PER_EPOCH} epochs; GluonTS then "
        f"restores the epoch with the lowest training loss), otherwise library defaults; "
        f"statistical baselines fitted per series; "
        + (f"first {cfg['max_series']} series per dataset; " if cfg.get("max_series") else "all series; ")
        + "each (dataset, model) in its own spawned process"
        + (" (not isolated: peak RSS cumulative)" if cfg.get("no_isolate") else "")
        + "."
    )
    L.append("")
    mq = next((r["settings"] for r in res if r["model"] == "mqcnn"), None)
    if mq is not None:
        per = ", ".join(
            f"{r['dataset']} ({r['settings'].get('context_length')}, {r['settings'].get('num_forking')})"
            for r in res if r["model"] == "mqcnn")
        extra = ", ".join(f"{k} {mq[k]!r}" for k in ("history_window", "loss_units", "season_length", "num_seasonal_lags", "num_recent_lags",
                                                  "seasonal_loc", "spread_exponent", "learn_spread_exponent",
                                                  "lr_schedule", "cache_data") if k in mq)
        L.append(
            "MQ-CNN-IQF settings: "
            + (f"`--mqcnn-context {cfg['mqcnn_context']}`" if cfg.get("mqcnn_context")
               else "context_length = estimator default")
            + ", "
            + (f"`--mqcnn-forking {cfg['mqcnn_forking']}`" if cfg.get("mqcnn_forking")
               else "num_forking = estimator default")
            + f"; per dataset (context, forking): {per}; "
            + (extra + "; " if extra else "")
            + f"encoder channels {mq.get('channels_seq')}, dilations {mq.get('dilation_seq')}, "
            f"kernels {mq.get('kernel_size_seq')}; head `{mq.get('distr_output')}` "
            f"(knots {mq.get('distr_knot_levels')}, {mq.get('distr_num_pieces')} piece(s), "
            f"tails {mq.get('distr_tails')!r}, loss {mq.get('distr_loss_name')!r}); lr {mq.get('lr')}; "
            "all other arguments at the estimator's defaults (every resolved value is in the JSON)."
        )
        L.append("")
    L.append(
        "Metrics: GluonTS `Evaluator(quantiles=[0.1, ..., 0.9], num_workers=0)` on the standard "
        "test split (last prediction_length values of each test series): mean wQL = "
        "`mean_wQuantileLoss`, MASE (Evaluator's seasonality); coverage = share of observed values "
        "at or below the forecast quantile (0.05 and 0.95 through `forecast.quantile`); crossing = "
        "`gluonts_iqf.metrics.crossing_rate` on levels 0.05, 0.10, ..., 0.95 (for TFT and the "
        "statistical models, levels between stored quantiles are GluonTS `QuantileForecast` "
        "interpolations). Times: wall clock (`time.perf_counter`), train = `estimator.train` / "
        "statsforecast `fit` over all series, predict = forecasting every test series; peak RSS "
        "of the model's own process (`resource.getrusage`), libraries and data included. "
        "Statistical baselines: statsforecast `SeasonalNaive` / `AutoETS` with season length "
        "24 (hourly), 52 (weekly), 12 (monthly), 4 (quarterly); quantiles from their Gaussian "
        "prediction intervals at `level=[10, ..., 90]`, median = point forecast."
    )
    L.append("")
    L.append("### Targets")
    L.append("")
    n = len(ov["datasets_compared"])
    L.append(
        f"- mean wQL no worse than the best of the five baselines on every dataset and better on "
        f"most: **{'met' if ov['target_wql_met'] else 'not met'}** -- no worse on "
        f"{ov['wql_no_worse_count']} of {n}, strictly better on {ov['wql_strictly_better_count']} of {n}."
    )
    if ov["datasets_timed"]:
        L.append(
            f"- total training + prediction wall time at most half of DeepAR's: "
            f"**{'met' if ov['target_time_met'] else 'not met'}** -- met on "
            f"{ov['time_half_count']} of {len(ov['datasets_timed'])} datasets; summed over the "
            f"datasets MQ-CNN / DeepAR = {ov['time_ratio_all_datasets']:.2f}."
        )
    L.append(
        f"- zero quantile crossings: **{'met' if ov['target_crossing_met'] else 'not met'}** -- "
        f"{ov['zero_crossing_count']} of {len(ov['datasets_crossing'])} datasets with crossing rate 0."
    )
    L.append("")
    L.append("| dataset | MQ-CNN wQL | best other (wQL) | MQ-CNN / best | MQ-CNN s | DeepAR s | time ratio | MQ-CNN crossing |")
    L.append("|---|---:|---|---:|---:|---:|---:|---:|")
    for d in cfg["datasets"]:
        s = summ["per_dataset"].get(d)
        if not s or "mqcnn_wql" not in s:
            continue
        L.append(
            f"| {d} | {s['mqcnn_wql']:.4f} | "
            f"{MODEL_LABEL.get(s.get('best_other_model'), 'n/a')} ({_fmt(s.get('best_other_wql'))}) | "
            f"{_fmt(s.get('mqcnn_wql_over_best_other'), 2)} | "
            f"{_secs(s['mqcnn_total_s']) if 'mqcnn_total_s' in s else 'n/a'} | "
            f"{_secs(s['deepar_total_s']) if 'deepar_total_s' in s else 'n/a'} | "
            f"{_fmt(s.get('time_ratio_mqcnn_over_deepar'), 2)} | {s['mqcnn_crossing_rate']:.4g} |"
        )
    L.append("")
    for d in cfg["datasets"]:
        rows = [r for r in res if r["dataset"] == d]
        if not rows:
            continue
        r0 = rows[0]
        L.append(
            f"### {d} (freq {r0['freq']}, prediction_length {r0['prediction_length']}, "
            f"{r0['num_test_series']} series)"
        )
        L.append("")
        L += dataset_table(res, d, markdown=True)
        L.append("")
        for line in verdict_lines(summ, res, d):
            L.append(f"- {line}")
        L.append("")
    sanity = sanity_lines(res)
    if sanity:
        L.append(
            "Sanity check against the mean wQL the project lead measured earlier at 400 steps of "
            "batch 32: " + "; ".join(sanity) + "."
        )
        L.append("")
    if payload.get("skipped"):
        L.append("Not run: " + "; ".join(payload["skipped"]) + ".")
        L.append("")
    L.append(f"Raw numbers: `{payload['output']}`.")
    L.append("")
    return "\n".join(L)


def write_markdown(path: Path, section: str) -> None:
    """Rewrite our section of ``path`` (see ``_common.write_section``)."""
    write_section(path, SECTION, section)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out_path = Path(args.output)
    md_path = Path(args.markdown) if args.markdown else None
    cfg_base = {
        "data_dir": args.raw_data_dir,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "threads": args.threads,
        "max_series": args.max_series,
        "mqcnn_context": args.mqcnn_context,
        "mqcnn_forking": args.mqcnn_forking,
    }
    command = "python " + " ".join(shlex.quote(a) for a in [_rel(Path(sys.argv[0]))] + sys.argv[1:])
    payload: Dict[str, Any] = {
        "benchmark": "bench_mqcnn",
        "command": command,
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "environment": environment(args),
        "config": {**cfg_base, "datasets": args.datasets, "models": args.models,
                   "no_isolate": args.no_isolate,
                   "batches_per_epoch": BATCHES_PER_EPOCH,
                   "max_epochs": args.steps // BATCHES_PER_EPOCH,
                   "eval_quantiles": list(EVAL_QUANTILES),
                   "crossing_levels": list(CROSS_LEVELS),
                   "season_length": SEASON_LENGTH},
        "reference_wql": REFERENCE_WQL,
        "output": _rel(out_path),
        "loadavg_start": "%.1f/%.1f/%.1f" % os.getloadavg(),
        "results": [],
        "skipped": [],
    }
    t_all = time.perf_counter()

    def save() -> None:
        payload["wall_s"] = time.perf_counter() - t_all
        payload["loadavg_end"] = "%.1f/%.1f/%.1f" % os.getloadavg()
        payload["summary"] = summarize(payload["results"], args.datasets)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(payload, indent=2) + "\n")

    for dataset in args.datasets:
        print(f"\n=== {dataset} ===", flush=True)
        for model in args.models:
            cfg = {**cfg_base, "dataset": dataset, "model": model}
            t0 = time.perf_counter()
            try:
                res = run_one(cfg) if args.no_isolate else run_isolated(cfg)
            except Exception as exc:
                msg = f"{dataset}/{model}: {str(exc).splitlines()[0][:300]}"
                print(f"  FAILED {msg}", flush=True)
                payload["skipped"].append(msg)
                save()
                continue
            m = res["metrics"]
            print(
                f"  {model:<15} wQL {m['mean_wQuantileLoss']:.4f}  MASE {m['MASE']:.3f}  "
                f"train {res['train_s']:.1f}s  predict {res['predict_s']:.1f}s  "
                f"(run {time.perf_counter() - t0:.0f}s)",
                flush=True,
            )
            payload["results"].append(res)
            save()
        print()
        for line in dataset_table(payload["results"], dataset, markdown=False):
            print(line)
        summ = summarize(payload["results"], args.datasets)
        for line in verdict_lines(summ, payload["results"], dataset):
            print("  " + line)
        sys.stdout.flush()

    save()
    ov = payload["summary"]["overall"]
    print("\n=== targets ===")
    print(f"wQL no worse than best baseline on {ov['wql_no_worse_count']} of "
          f"{len(ov['datasets_compared'])}, strictly better on {ov['wql_strictly_better_count']}: "
          f"{'met' if ov['target_wql_met'] else 'NOT met'}")
    if ov["datasets_timed"]:
        print(f"time <= 0.5 x DeepAR on {ov['time_half_count']} of {len(ov['datasets_timed'])} "
              f"(summed ratio {ov['time_ratio_all_datasets']:.2f}): "
              f"{'met' if ov['target_time_met'] else 'NOT met'}")
    print(f"zero crossings on {ov['zero_crossing_count']} of {len(ov['datasets_crossing'])}: "
          f"{'met' if ov['target_crossing_met'] else 'NOT met'}")
    for line in sanity_lines(payload["results"]):
        print("sanity: " + line)
    print(f"\nwrote {out_path}")
    if md_path is not None:
        write_markdown(md_path, markdown_section(payload))
        print(f"wrote {md_path} ({SECTION})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
