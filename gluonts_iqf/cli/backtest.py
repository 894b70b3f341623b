"""``gluonts-iqf backtest``: train a model on a dataset's training part,
forecast the last ``prediction_length`` values of every test series, score
them and write metrics, forecasts, the predictor and plots. With
``--windows K``, a rolling origin: the last ``K`` windows of every series,
each forecast from the values before it by one model trained on the values
before the earliest, scored per window and pooled."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .against import (  # noqa: F401  (WQL_LEVELS, COVERAGE_LEVELS: names of this module before)
    COVERAGE_LEVELS,
    WQL_LEVELS,
    check_baseline_names,
    evaluate_windows,
    print_baselines,
    score_baseline,
)
from .errors import EXIT_OK, CLIError
from .forecast import PREDICTOR_INFO, forecast_frame, level_name
from .parser import DEFAULTS, MODELS, parse_levels
from .runtime import (
    configure_threads,
    console,
    hardware,
    progress,
    quiet_libraries,
    resolve_device,
    since_start,
    tracked,
    versions,
)
from .staging import check_output_dir, make_staging_dir, publish_dir, write_frame

#: Number of series drawn as fan charts.
NUM_FAN_CHARTS = 4

_IQF_HEAD = {"distr_output": "IQFOutput()", "loss": "closed-form CRPS"}
#: Each model's output head, as printed and as recorded in the settings of
#: metrics.json: the IQF models have an ``IQFOutput`` trained by its
#: closed-form CRPS; MQF² has no ``distr_output`` but a convex quantile map
#: trained by the energy score.
MODEL_HEADS: Dict[str, Tuple[str, Dict[str, str]]] = {
    "mqcnn": ("IQF head", _IQF_HEAD),
    "mqf2": ("convex quantile map", {"convex_output": "ConvexQuantileOutput()", "loss": "energy score"}),
    "deepar-iqf": ("IQF head", _IQF_HEAD),
    "sff-iqf": ("IQF head", _IQF_HEAD),
}


def _subset(train, test, n: Optional[int]):
    """The first ``n`` series (by the test split's item ids; positional when
    the ids do not match across splits)."""
    if n is None:
        return train, test
    ids: List[Any] = []
    for e in test:
        if e.get("item_id") not in ids:
            ids.append(e.get("item_id"))
        if len(ids) == n:
            break
    keep = set(ids)
    sub_test = [e for e in test if e.get("item_id") in keep]
    sub_train = [e for e in train if e.get("item_id") in keep]
    if not sub_train:  # ids do not match across splits: positional
        sub_train = list(train)[:n]
    return sub_train, sub_test


def _same_items(entries, chosen, n: Optional[int]):
    """The entries of an earlier window for the items ``_subset`` chose in
    the last one (by item id; the first ``n`` when the ids are missing or
    repeat)."""
    if n is None:
        return entries
    ids = [e.get("item_id") for e in chosen]
    if None in ids or len(set(ids)) < len(ids):
        return list(entries)[:n]
    keep = set(ids)
    return [e for e in entries if e.get("item_id") in keep]


def _estimator(args, freq: str, H: int, trainer_kwargs: Dict[str, Any]):
    """The estimator of ``--model`` and the settings it resolved
    (context length, forks)."""
    from .. import IQFOutput, MQCNNEstimator, MQF2Estimator

    common = dict(
        prediction_length=H,
        batch_size=args.batch_size,
        num_batches_per_epoch=args.batches_per_epoch,
        lr=args.lr,
        trainer_kwargs=trainer_kwargs,
    )
    if args.model in ("mqcnn", "mqf2"):
        # context: the estimator's default (MQ-CNN: max(2H, seasonal lags x
        # season); MQF2: 2H) unless given
        C = args.context_length
        F_default = DEFAULTS["num_forking"][args.model]
        F = args.num_forking or (min(F_default, C) if C else F_default)
        if C is not None and F > C:
            raise CLIError(f"--num-forking {F} is larger than the context length {C}")
        if args.model == "mqcnn":
            Estimator: Any = MQCNNEstimator
            extra = {"distr_output": IQFOutput()}
        else:
            Estimator = MQF2Estimator
            extra = {}
        try:
            est = Estimator(freq=freq, context_length=C, num_forking=F, **extra, **common)
        except ValueError as err:
            raise CLIError(str(err)) from None
        return est, {"context_length": est.context_length, "num_forking": est.num_forking}
    if args.num_forking is not None:
        raise CLIError(f"--num-forking applies to --model mqcnn or mqf2 only, not {args.model}")
    if args.model == "deepar-iqf":
        from gluonts.torch.model.deepar import DeepAREstimator

        est = DeepAREstimator(freq=freq, context_length=args.context_length,
                              distr_output=IQFOutput(), **common)
        return est, {"context_length": est.context_length}
    from gluonts.torch.model.simple_feedforward import SimpleFeedForwardEstimator

    est = SimpleFeedForwardEstimator(context_length=args.context_length,
                                     distr_output=IQFOutput(), **common)
    return est, {"context_length": est.context_length}


def _check_model(name: str) -> str:
    """``name`` if it is one of :data:`MODELS`, else :class:`CLIError`."""
    if name not in MODELS:
        raise CLIError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return name


def cmd_backtest(args) -> int:
    """Run the backtest; every input check comes before any training, and
    the output folder appears only when everything is written."""
    timings: Dict[str, float] = {}
    t_cmd = time.perf_counter()
    started = since_start()  # interpreter start + imports so far
    model = _check_model(args.model)
    levels = parse_levels(args.levels)
    if not (args.lr > 0 and math.isfinite(args.lr)):
        raise CLIError(f"--lr must be a positive number, got {args.lr}")
    baselines = check_baseline_names(args.baselines)
    out = check_output_dir(args.output, args.overwrite)
    screen = console()

    t0 = time.perf_counter()
    import lightning
    import numpy as np
    from gluonts.evaluation import make_evaluation_predictions

    from .. import QuantileFunctionForecast, datasets, metrics, plot

    timings["imports_s"] = started + time.perf_counter() - t0
    quiet_libraries()
    threads = configure_threads(args.threads)
    accelerator, torch_device = resolve_device(args.device)

    # ---- data (all checks before any training or writing)
    t0 = time.perf_counter()
    try:
        data = datasets.load_any(
            args.dataset, data_dir=args.data_dir, freq=args.freq,
            item_id=args.item_id, timestamp=args.timestamp, target=args.target,
        )
    except datasets.DataError as exc:
        if "required file(s)" in str(exc):  # a known dataset without its raw files
            raise CLIError(f"{exc} On the command line: --data-dir DIR") from None
        raise
    H = args.prediction_length or data.metadata.prediction_length
    if not H:
        raise CLIError(f"--prediction-length is required for {args.dataset} (it declares no horizon)")
    split = datasets.rolling_origin_split(data, H, args.windows, min_train_length=1)
    train, test = _subset(split.train, split.windows[0], args.max_series)
    windows = [test] + [_same_items(w, test, args.max_series) for w in split.windows[1:]]
    freq = data.metadata.freq
    timings["load_s"] = time.perf_counter() - t0

    # ---- model
    lightning.seed_everything(args.seed, verbose=False)
    trainer_kwargs = dict(
        max_epochs=args.epochs, accelerator=accelerator, devices=1,
        enable_progress_bar=not args.quiet, enable_model_summary=False,
        logger=False,
    )
    estimator, model_settings = _estimator(args, freq, H, trainer_kwargs)
    settings = {
        "dataset": args.dataset, "freq": freq, "prediction_length": H,
        "num_train_series": len(train), "num_test_series": len(test),
        "windows": args.windows, "num_series_per_window": [len(w) for w in windows], "baselines": baselines,
        "model": model, **model_settings, **MODEL_HEADS[model][1],
        "epochs": args.epochs, "batches_per_epoch": args.batches_per_epoch,
        "batch_size": args.batch_size, "gradient_steps": args.epochs * args.batches_per_epoch,
        "lr": args.lr, "levels": levels, "seed": args.seed,
        "device": torch_device, "torch_threads": threads, "max_series": args.max_series,
    }
    _print_settings(screen, settings)

    staging = make_staging_dir(out)
    try:
        t0 = time.perf_counter()
        # Lightning's checkpoints go to a scratch folder, never the output
        with tempfile.TemporaryDirectory(prefix="gluonts-iqf-lightning-") as work:
            estimator.trainer_kwargs["default_root_dir"] = work
            predictor = estimator.train(train, cache_data=True)
        # forecasts are evaluated, written and plotted with numpy: predict on
        # the CPU
        predictor = predictor.to("cpu")
        timings["train_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        per_window = []  # (forecasts, series, targets) of window 1 (the last), 2, ...
        with progress(sum(len(w) for w in windows), "forecasting series", not args.quiet) as advance:
            for w in windows:
                forecast_it, ts_it = make_evaluation_predictions(w, predictor)
                fcs = list(tracked(forecast_it, advance))
                tss_w = list(ts_it)
                per_window.append((fcs, tss_w, [np.asarray(ts.to_numpy(), dtype=np.float64).ravel()[-H:]
                                                for ts in tss_w]))
        forecasts, tss, targets = per_window[0]
        timings["predict_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()

        tss_by_window = [x[1] for x in per_window]
        targets_by_window = [x[2] for x in per_window]
        agg, window_aggs = evaluate_windows([x[0] for x in per_window], tss_by_window)
        results = _metrics(sum((x[0] for x in per_window), []), sum(targets_by_window, []), agg, levels,
                           metrics, QuantileFunctionForecast)
        window_results = [dict(window=k + 1, num_series=len(x[0]), **_metrics(
            x[0], x[2], agg_w, levels, metrics, QuantileFunctionForecast))
            for k, (x, agg_w) in enumerate(zip(per_window, window_aggs))]
        timings["evaluate_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        fitted = [{} for _ in windows]  # each statsforecast model fitted once per window
        against = {name: score_baseline(name, windows, tss_by_window, targets_by_window, H, freq, results, fitted)
                   for name in baselines}
        if baselines:
            timings["baselines_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        frame = (_window_frame(per_window, levels, forecast_frame) if window_results
                 else forecast_frame(forecasts, levels, targets))
        write_frame(frame, staging / "forecasts.parquet", parquet=True)
        write_frame(frame, staging / "forecasts.csv", parquet=False)
        (staging / "predictor").mkdir()
        predictor.serialize(staging / "predictor")
        (staging / "predictor" / PREDICTOR_INFO).write_text(json.dumps(
            {"freq": freq, "prediction_length": H, "model": model, "levels": levels,
             "dataset": args.dataset}, indent=2))
        plots: List[str] = []
        if not args.no_plots:
            plots = _plots(staging, forecasts, test, targets, H, plot)
        timings["write_s"] = time.perf_counter() - t0
        timings["total_s"] = time.perf_counter() - t_cmd
        timings["process_s"] = since_start()

        report = {
            "command": ["gluonts-iqf"] + list(args.argv),
            "metrics": results,
            **({"windows": window_results} if window_results else {}),
            **({"baselines": against} if against else {}),
            "gluonts_evaluator": agg,
            "settings": settings,
            "seed": args.seed,
            "timings_s": timings,
            "versions": versions(),
            "hardware": hardware(torch_device, threads),
            "files": sorted(["metrics.json", "forecasts.parquet", "forecasts.csv", "predictor/"] + plots),
            "forecast_columns": list(frame.columns),
        }
        (staging / "metrics.json").write_text(json.dumps(_finite(report), indent=2, default=str))
        publish_dir(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _print_metrics(screen, results, timings, out, report["files"], window_results, against)
    return EXIT_OK


def _window_frame(per_window, levels, forecast_frame):
    """The forecast table of every window, with a ``window`` column (1 = the
    last ``H`` values) after ``item_id``."""
    import pandas as pd

    frames = []
    for k, (fcs, _, targets_w) in enumerate(per_window):
        f = forecast_frame(fcs, levels, targets_w)
        f.insert(1, "window", k + 1)
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def _finite(x: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        try:
            x = x.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


#: Bins of the PIT histogram in ``metrics.json``.
PIT_BINS = 10


def _metrics(forecasts, targets, agg, levels, metrics, qff_type) -> Dict[str, Any]:
    """Metrics of the report: the Evaluator's wQL, MASE, sMAPE and ND; the
    exact CRPS where every forecast is a quantile function (else the wQL
    approximation); coverage, crossing rate and the PIT histogram.
    ``targets``: each (H,)."""
    import numpy as np

    res: Dict[str, Any] = {"mean_wQuantileLoss": float(agg["mean_wQuantileLoss"])}
    res["wQuantileLoss"] = {f"{a:.1f}": float(agg[f"wQuantileLoss[{a}]"]) for a in WQL_LEVELS}
    if all(isinstance(f, qff_type) for f in forecasts):
        total = 0.0
        count = 0
        abs_sum = 0.0
        for f, y in zip(forecasts, targets):
            ok = ~np.isnan(y)
            c = np.asarray(f.crps(np.nan_to_num(y)), dtype=np.float64)[ok]
            total += float(c.sum())
            count += int(ok.sum())
            abs_sum += float(np.abs(y[ok]).sum())
        res["crps"] = total / max(count, 1)
        res["crps_weighted"] = total / abs_sum if abs_sum > 0 else float("nan")
        res["crps_method"] = (
            "exact closed-form CRPS of the quantile functions (QuantileFunctionForecast.crps); "
            "crps = mean per observed point, crps_weighted = sum CRPS / sum |y|"
        )
    else:
        res["crps"] = float("nan")
        res["crps_weighted"] = float(agg["mean_wQuantileLoss"])
        res["crps_method"] = "GluonTS weighted CRPS approximation: mean_wQuantileLoss over 0.1..0.9"
    res["MASE"] = float(agg["MASE"])
    res["sMAPE"] = float(agg["sMAPE"])
    res["ND"] = float(agg["ND"])
    cov_levels = sorted(set(COVERAGE_LEVELS) | set(levels))
    res["coverage"] = {level_name(a): float(metrics.coverage(forecasts, targets, a)) for a in cov_levels}
    res["crossing_rate"] = float(metrics.crossing_rate(forecasts))
    # calibration at every level: the PIT histogram, 10 bins as multiples of
    # the uniform density (a calibrated forecast has all near 1)
    counts, _ = np.histogram(metrics.pit_values(forecasts, targets), bins=PIT_BINS, range=(0.0, 1.0))
    res["pit_histogram"] = [float(c) for c in counts * PIT_BINS / max(counts.sum(), 1)]
    return res


def _plots(staging: Path, forecasts, test, targets, H: int, plot) -> List[str]:
    """Fan charts, quantile function, calibration and (for joint sample
    paths) the correlation across steps, as PNGs; returns their names."""
    import matplotlib
    from gluonts.model.forecast import SampleForecast

    matplotlib.use("Agg", force=True)
    names = []
    for k in range(min(NUM_FAN_CHARTS, len(forecasts))):
        name = f"fan_chart_{k}.png"
        plot.fan_chart(forecasts[k], history=test[k], history_length=3 * H, path=staging / name,
                       levels=(0.5, 0.8, 0.9))
        names.append(name)
    y0 = targets[0][0]
    plot.quantile_function(forecasts[0], step=0, observed=None if y0 != y0 else float(y0),
                           path=staging / "quantile_function.png")
    names.append("quantile_function.png")
    plot.calibration(forecasts, targets, path=staging / "calibration.png")
    names.append("calibration.png")
    if isinstance(forecasts[0], SampleForecast):  # joint paths (MQF2, DeepAR)
        plot.correlation_matrix(forecasts[0], path=staging / "correlation.png",
                                title="correlation of the forecast across horizon steps")
        names.append("correlation.png")
    return names


def _print_settings(screen, s: Dict[str, Any]) -> None:
    """One line: model and head, dataset, horizon, context, training."""
    extra = ""
    if s["model"] == "mqcnn":
        extra = f", num_forking={s['num_forking']}"
    head = MODEL_HEADS[s["model"]][0]
    screen.print(
        f"[bold]backtest[/bold] {s['model']} ({head}) on [bold]{s['dataset']}[/bold]: "
        f"{s['num_test_series']} series"
        + (f" x {s['windows']} windows (rolling origin)" if s.get("windows", 1) > 1 else "")
        + f", freq={s['freq']}, prediction_length={s['prediction_length']}, "
        f"context_length={s['context_length']}{extra}; "
        f"{s['epochs']} epochs x {s['batches_per_epoch']} batches of {s['batch_size']}, "
        f"seed={s['seed']}, device={s['device']}, threads={s['torch_threads']}"
    )


def _print_metrics(screen, r: Dict[str, Any], timings: Dict[str, float], out: Path,
                   files: Sequence[str], windows: Sequence[Dict[str, Any]] = (),
                   against: Optional[Dict[str, Dict[str, Any]]] = None) -> None:
    """The metrics and wall times as a table (pooled over the windows when
    there are several, then a table per window, then the baselines), then
    the files written."""
    from rich.table import Table

    title = f"backtest metrics, {len(windows)} windows pooled" if windows else "backtest metrics"
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("note", style="dim")
    table.add_row("mean wQL", f"{r['mean_wQuantileLoss']:.4f}", "GluonTS Evaluator, levels 0.1..0.9")
    if r["crps"] == r["crps"]:
        table.add_row("CRPS", f"{r['crps']:.4f}", "exact closed form, mean per point")
        table.add_row("weighted CRPS", f"{r['crps_weighted']:.4f}", "sum CRPS / sum |y|")
    else:
        table.add_row("weighted CRPS", f"{r['crps_weighted']:.4f}", "approximation: mean wQL")
    table.add_row("MASE", f"{r['MASE']:.4f}", "GluonTS Evaluator")
    for a in ("0.05", "0.5", "0.95"):
        table.add_row(f"coverage {a}", f"{r['coverage'][a]:.3f}", f"share of y <= q({a}); ideal {a}")
    table.add_row("crossing rate", f"{r['crossing_rate']:.4f}", "199 levels 0.005..0.995; ideal 0")
    for key, label in (("imports_s", "start-up + imports"), ("load_s", "load data"), ("train_s", "training"),
                       ("predict_s", "prediction"), ("evaluate_s", "evaluation"), ("baselines_s", "baselines"),
                       ("write_s", "writing + plots"), ("process_s", "total (process)")):
        if key in timings:
            table.add_row(f"time: {label}", f"{timings[key]:.1f} s", "")
    screen.print(table)
    if windows:
        per = Table(title="per window (1 = the last H values)", title_justify="left")
        for col in ("window", "series", "mean wQL", "MASE", "sMAPE", "coverage 0.5"):
            per.add_column(col, justify="right")
        for w in windows:
            per.add_row(str(w["window"]), str(w["num_series"]), f"{w['mean_wQuantileLoss']:.4f}",
                        f"{w['MASE']:.4f}", f"{w['sMAPE']:.4f}", f"{w['coverage']['0.5']:.3f}")
        screen.print(per)
    if against:
        print_baselines(screen, r, against, max(len(windows), 1))
    pngs = [f for f in files if f.endswith(".png")]
    listed = [f for f in files if not f.endswith(".png")] + ([f"{len(pngs)} PNG plots"] if pngs else [])
    screen.print(f"wrote {out}/: {', '.join(listed)}")
