"""Scoring for ``gluonts-iqf backtest``: GluonTS's Evaluator over one or
several windows (pooled, and each window from the same pass), and the
statsforecast baselines of ``--baselines`` fitted and scored on the same
windows as ours."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from .errors import CLIError
from .forecast import level_name

#: Levels of the GluonTS Evaluator's mean weighted quantile loss.
WQL_LEVELS: Tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: Levels whose coverage is always reported.
COVERAGE_LEVELS: Tuple[float, ...] = (0.05, 0.5, 0.95)
#: Baseline metrics reported, with ours / theirs.
BASELINE_METRICS: Tuple[str, ...] = ("mean_wQuantileLoss", "MASE", "sMAPE")


def evaluate_windows(forecasts_by_window: Sequence[list], series_by_window: Sequence[list]
                     ) -> Tuple[Dict[str, float], List[Dict[str, float]]]:
    """GluonTS Evaluator aggregates over every window's series together,
    and per window when there are several (empty list for one): one pass
    over the series, each window aggregated from its rows with the
    Evaluator's own ``get_aggregate_metrics``."""
    import numpy as np
    from gluonts.env import env
    from gluonts.evaluation import Evaluator

    evaluator = Evaluator(quantiles=WQL_LEVELS, num_workers=0)
    forecasts = [f for fs in forecasts_by_window for f in fs]
    series = [s for ss in series_by_window for s in ss]
    with env._let(use_tqdm=False), np.errstate(all="ignore"):
        agg, rows = evaluator(series, forecasts, num_series=len(series))
        per_window: List[Dict[str, float]] = []
        if len(forecasts_by_window) > 1:
            start = 0
            for fs in forecasts_by_window:
                per_window.append(evaluator.get_aggregate_metrics(rows.iloc[start:start + len(fs)])[0])
                start += len(fs)
    return agg, per_window


def check_baseline_names(text: str) -> List[str]:
    """The ``--baselines`` names, checked (and statsforecast importable)
    before any training."""
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    if not names:
        return []
    from .. import baselines

    try:
        names = baselines.check_baselines(names)
        baselines.require_statsforecast()
    except (ValueError, ImportError) as exc:
        raise CLIError(f"--baselines: {exc}") from None
    return names


def score_baseline(name: str, windows: Sequence[list], series_by_window: Sequence[list],
                   targets_by_window: Sequence[list], H: int, freq: str, ours: Dict[str, Any],
                   fitted_by_window: Optional[Sequence[dict]] = None) -> Dict[str, Any]:
    """Baseline ``name`` fitted on the values before each window (the
    entries of ``windows`` end with their window) and scored as ours: its
    Evaluator metrics and coverage at :data:`COVERAGE_LEVELS`, pooled and
    per window, fit seconds, season, season-1 refits, and ours divided by
    its for :data:`BASELINE_METRICS`. ``fitted_by_window``: one dict per
    window, shared by the calls for several baselines, so that each
    statsforecast model is fitted once per window (``stat_ensemble`` uses
    its members' fits; its seconds are theirs together)."""
    import numpy as np

    from .. import baselines, metrics

    season = baselines.season_length(freq)
    if fitted_by_window is None:
        fitted_by_window = [{} for _ in windows]
    forecasts, refits, seconds = [], 0, 0.0
    for w, fitted in zip(windows, fitted_by_window):
        inputs = [dict(e, target=np.asarray(e["target"])[:-H]) for e in w]
        q, r = baselines.baseline_quantiles(name, [e["target"] for e in inputs], H, season, fitted)
        forecasts.append(baselines.quantile_forecasts(q, inputs))
        refits += r
        seconds += fitted[name].seconds

    def summary(agg, fcs, targets) -> Dict[str, Any]:
        out = {k: float(agg[k]) for k in BASELINE_METRICS + ("ND",)}
        out["coverage"] = {level_name(a): float(metrics.coverage(fcs, targets, a)) for a in COVERAGE_LEVELS}
        return out

    agg, window_aggs = evaluate_windows(forecasts, series_by_window)
    res: Dict[str, Any] = {
        "metrics": summary(agg, sum(forecasts, []), sum((list(t) for t in targets_by_window), [])),
        "seconds": seconds, "season_length": season, "season_1_refits": refits,
    }
    if window_aggs:
        res["windows"] = [dict(window=k + 1, num_series=len(fcs), **summary(a, fcs, t))
                          for k, (a, fcs, t) in enumerate(zip(window_aggs, forecasts, targets_by_window))]
    res["ours_over_baseline"] = {k: ours[k] / res["metrics"][k] if res["metrics"][k] else float("nan")
                                 for k in BASELINE_METRICS}
    return res


def print_baselines(screen, ours: Dict[str, Any], against: Dict[str, Dict[str, Any]], windows: int) -> None:
    """Ours and each baseline side by side, and ours / theirs."""
    from rich.table import Table

    pooled = f", {windows} windows pooled" if windows > 1 else ""
    table = Table(title=f"against statsforecast baselines (same windows{pooled})", title_justify="left")
    for col in ("model", "mean wQL", "MASE", "sMAPE", "coverage 0.5", "ours / theirs wQL", "ours / theirs MASE"):
        table.add_column(col, justify="right" if col != "model" else "left")
    table.add_row("ours", f"{ours['mean_wQuantileLoss']:.4f}", f"{ours['MASE']:.4f}", f"{ours['sMAPE']:.4f}",
                  f"{ours['coverage']['0.5']:.3f}", "", "")
    for name, b in against.items():
        m, r = b["metrics"], b["ours_over_baseline"]
        table.add_row(name, f"{m['mean_wQuantileLoss']:.4f}", f"{m['MASE']:.4f}", f"{m['sMAPE']:.4f}",
                      f"{m['coverage']['0.5']:.3f}", f"{r['mean_wQuantileLoss']:.3f}", f"{r['MASE']:.3f}")
    screen.print(table)
