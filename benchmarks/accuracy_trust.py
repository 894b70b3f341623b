#!/usr/bin/env python
"""How far the accuracy benchmark's windows can be trusted: four checks on
the records of ``bench_accuracy.py`` (no model is run).

* **Each model against the best of the others.** The targets compare
  MQ-CNN-IQF with the best of eight baselines per dataset and metric, a
  minimum that favours the baselines by selection. Here every model (the
  baselines and the MQ-CNN-IQF configuration ``--tag``) is divided by the
  best of the *other* baselines: how often any model clears that bar shows
  how attainable "no worse than the best baseline on every dataset" is.
* **Validation against the other windows.** For every pair of MQ-CNN-IQF
  configurations scored on both, the change of the geometric mean ratio
  (log) on the validation windows and on the test (or a later validation)
  windows; per band of the size of the validation change, the share of
  pairs whose sign the other window agrees with, and the correlation. A change of a size whose sign agrees
  about half the time is not evidence, whatever it is on validation.
* **The held-out windows pooled.** Nothing is chosen on ``validation3``,
  ``validation4``, ``validation5`` or ``test``: they are the held-out
  origins of a rolling origin (those with records are pooled). Each model's score of a dataset is pooled over them (geometric
  mean over the windows of its seed mean) and compared as above: one window
  cannot decide "no worse than the best baseline on every dataset" (a
  baseline that is best on one window is often not on the next), several
  windows pooled can.
* **The baseline a forecaster would pick.** The best baseline of a window
  is known only after it; a forecaster picks one per dataset on the window
  before (the last H values of the series the models train on). Each
  window's MQ-CNN-IQF divided by the baseline that was best on the
  previous window.
* **Choosing per dataset on the previous window.** With ``--choose
  TAG_A,TAG_B``, the same choice between two MQ-CNN-IQF configurations
  (per dataset, the better on the previous window): whether a validation
  window can pick a configuration per dataset.
* **Seeds.** With ``--neutral TAG_A,TAG_B``, two runs of one configuration
  with different training seeds: the change between them is the spread of a
  change that does nothing.

Usage::

    python benchmarks/accuracy_trust.py [--results benchmarks/results/accuracy.json] \\
        [--markdown benchmarks/RESULTS.md] [--tag default] [--neutral default,seeds345] \\
        [--choose default,members_only]
"""

import argparse
import itertools
import math
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _accuracy_records import load_results  # noqa: E402
from _common import publish  # noqa: E402
from bench_accuracy import (  # noqa: E402
    BASELINES,
    DEV_SUITE,
    LABEL,
    RATIO_METRICS,
    SPLITS,
    VALIDATION_CUTS,
    summarise,
)

#: Bands of |log change| of a geometric mean on the validation windows.
BANDS = (0.0, 0.005, 0.01, 0.02, 0.05, math.inf)
METRIC_LABEL = {"mean_wQuantileLoss": "wQL", "MASE": "MASE", "sMAPE": "sMAPE", "coverage_error": "coverage error"}
HEADING = "## Accuracy: how far the windows can be trusted"
#: windows where nothing is chosen (the origins of a rolling-origin evaluation)
HELD_OUT = ("validation3", "validation4", "validation5", "test")


def geometric_mean(values: Sequence[float]) -> float:
    return float(np.exp(np.mean(np.log(values))))


def against_rest(table: Dict[str, Dict[str, Any]], datasets: Sequence[str], metric: str
                 ) -> Dict[str, Tuple[float, int, int]]:
    """Per model of ``table`` (``summarise``'s table: dataset -> model ->
    cell with the seed ``mean``): the geometric mean over ``datasets`` of
    its metric divided by the best of the other baselines (MQ-CNN-IQF is
    never among the others), the number of datasets where that ratio is at
    most 1, and the number of datasets compared."""
    out: Dict[str, Tuple[float, int, int]] = {}
    models = sorted({m for d in datasets for m in table.get(d, {})})
    for model in models:
        ratios = []
        for d in datasets:
            row = table.get(d, {})
            if model not in row:
                continue
            others = [c["mean"][metric] for m, c in row.items()
                      if m != model and m in BASELINES and math.isfinite(c["mean"][metric])]
            if others and min(others) > 0:
                ratios.append(row[model]["mean"][metric] / min(others))
        if ratios:
            out[model] = (geometric_mean(ratios), sum(r <= 1 for r in ratios), len(ratios))
    return out


def pooled_table(results: Dict[str, Any], splits: Sequence[str], datasets: Sequence[str], tag: str
                 ) -> Dict[str, Dict[str, Any]]:
    """``summarise``'s table pooled over ``splits``: dataset -> model ->
    ``{"mean": metric -> geometric mean over the splits of the seed mean}``,
    for the models (MQ-CNN-IQF: the configuration ``tag``) scored on that
    dataset in every one of the splits. A window where a model failed (an
    infinite or non-positive score) leaves the model out of that dataset."""
    per_split = [summarise(results, split, datasets, tag)["table"] for split in splits]
    out: Dict[str, Dict[str, Any]] = {}
    for d in datasets:
        models = set.intersection(*(set(t.get(d, {})) for t in per_split)) if per_split else set()
        for m in sorted(models):
            values = {k: [t[d][m]["mean"][k] for t in per_split] for k in RATIO_METRICS}
            if all(math.isfinite(v) and v > 0 for vs in values.values() for v in vs):
                out.setdefault(d, {})[m] = {"mean": {k: geometric_mean(vs) for k, vs in values.items()}}
    return out


def against_best(table: Dict[str, Dict[str, Any]], datasets: Sequence[str], metric: str
                 ) -> Dict[str, Tuple[float, str]]:
    """Per dataset of ``table``: MQ-CNN-IQF's score divided by the best
    baseline's (the targets' ratio), and that baseline."""
    out = {}
    for d in datasets:
        row = table.get(d, {})
        base = {m: c["mean"][metric] for m, c in row.items() if m in BASELINES}
        if "mqcnn" in row and base:
            best = min(base, key=base.get)
            out[d] = (row["mqcnn"]["mean"][metric] / base[best], best)
    return out


def previous_window(split: str) -> Optional[str]:
    """The window just before ``split``: the last H values of the series
    that ``split``'s models train on, the window a forecaster can backtest
    on before forecasting ``split``'s; None for the earliest window."""
    cut = VALIDATION_CUTS.get(split, 0) + 1
    return next((s for s, c in VALIDATION_CUTS.items() if c == cut), None)


def against_picked(now: Dict[str, Dict[str, Any]], before: Dict[str, Dict[str, Any]], datasets: Sequence[str],
                   metric: str) -> Dict[str, Tuple[float, str]]:
    """Per dataset: MQ-CNN-IQF's score in ``now`` (``summarise``'s table of
    a window) divided by that of the baseline with the best score in
    ``before`` (the previous window's table: picked before the window's
    values are known). Baselines without a finite positive score on both
    windows are not candidates."""
    out = {}
    for d in datasets:
        row, earlier = now.get(d, {}), before.get(d, {})
        candidates = {m: earlier[m]["mean"][metric] for m in BASELINES if m in row and m in earlier
                      and all(math.isfinite(v) and v > 0
                              for v in (earlier[m]["mean"][metric], row[m]["mean"][metric]))}
        if "mqcnn" in row and candidates:
            pick = min(candidates, key=candidates.get)
            out[d] = (row["mqcnn"]["mean"][metric] / row[pick]["mean"][metric], pick)
    return out


def common_seed_means(cells: Sequence[Optional[Dict[str, Any]]], metric: str) -> Optional[List[float]]:
    """Each cell's (``summarise``'s per-model cell) mean of ``metric`` over
    the training seeds that every cell has; None where a cell is missing or
    they share no seed."""
    if any(c is None for c in cells):
        return None
    seeds = set.intersection(*(set(c["seeds"]) for c in cells))
    if not seeds:
        return None
    return [float(np.mean([r["metrics"][metric] for r in c["runs"] if r["seed"] in seeds])) for c in cells]


def choice_on_previous(now: Sequence[Dict[str, Dict[str, Any]]], before: Sequence[Dict[str, Dict[str, Any]]],
                       datasets: Sequence[str], metric: str) -> Optional[Tuple[float, int, int]]:
    """Per dataset, the configuration of two with the better score on the
    previous window: ``now`` and ``before`` hold ``summarise``'s tables of
    the two configurations (in order) on the window and on the one before.
    Returns the geometric mean over the datasets of the chosen one's score
    on the window divided by the first's, on how many datasets the previous
    window's order held, and of how many (None when no dataset has both on
    both windows; means over the seeds both have)."""
    logs, held = [], 0
    for d in datasets:
        scores = [common_seed_means([t.get(d, {}).get("mqcnn") for t in tables], metric) for tables in (now, before)]
        if any(v is None for v in scores) or not all(math.isfinite(x) and x > 0 for v in scores for x in v):
            continue
        (a, b), (a_before, b_before) = scores
        logs.append(math.log((b if b_before < a_before else a) / a))
        held += (b_before < a_before) == (b < a)
    if not logs:
        return None
    return float(np.exp(np.mean(logs))), held, len(logs)


def tag_geomeans(results: Dict[str, Any], split: str, datasets: Sequence[str]) -> Dict[str, Dict[str, float]]:
    """Geometric mean ratio to the best baseline per metric, for every
    MQ-CNN-IQF tag scored on all ``datasets`` of ``split``."""
    tags = sorted({r["tag"] for r in results["records"].values() if r["split"] == split and r["model"] == "mqcnn"})
    out = {}
    for tag in tags:
        summ = summarise(results, split, datasets, tag)
        if all(len(summ["ratios"][k]) == len(datasets) for k in RATIO_METRICS):
            out[tag] = summ["geomean"]
    return out


def agreement(first: Dict[str, Dict[str, float]], second: Dict[str, Dict[str, float]], metric: str,
              exclude: Sequence[str] = ()) -> Tuple[List[Tuple[float, float, int, float]], float, int]:
    """Sign agreement of configuration changes between two windows.

    first, second : tag -> metric -> geometric mean ratio. For every pair of
    tags in both (but the ``exclude`` tags, e.g. a re-run of another tag
    with other seeds), ``log(b / a)`` on each window.
    Returns the rows ``(low, high, pairs, share whose signs agree)`` per band
    of :data:`BANDS` of ``|change on first|`` (bands without pairs left
    out), the correlation of the changes and the number of pairs.
    """
    tags = sorted((set(first) & set(second)) - set(exclude))
    changes = np.array([[math.log(w[b][metric] / w[a][metric]) for w in (first, second)]
                        for a, b in itertools.combinations(tags, 2)])
    if len(changes) == 0:
        return [], float("nan"), 0
    rows = []
    size = np.abs(changes[:, 0])
    for low, high in zip(BANDS[:-1], BANDS[1:]):
        sel = (size >= low) & (size < high)
        if sel.any():
            same = np.sign(changes[sel, 0]) == np.sign(changes[sel, 1])
            rows.append((low, high, int(sel.sum()), float(same.mean())))
    corr = float(np.corrcoef(changes[:, 0], changes[:, 1])[0, 1]) if len(changes) > 2 else float("nan")
    return rows, corr, len(changes)


def _band(low: float, high: float) -> str:
    return f"{100 * low:g} % or more" if math.isinf(high) else f"{100 * low:g} to {100 * high:g} %"


def report(results: Dict[str, Any], datasets: Sequence[str], tag: str,
           neutral: Optional[Tuple[str, str]], choose: Optional[Tuple[str, str]] = None) -> str:
    lines = [HEADING, "",
             "From the records of the sections above, no model run: `python benchmarks/accuracy_trust.py "
             f"--tag {tag}" + (f" --neutral {','.join(neutral)}" if neutral else "")
             + (f" --choose {','.join(choose)}" if choose else "") + "`.", ""]
    lines += ["### Each model against the best of the other baselines", "",
              "Geometric mean over the datasets of each model's score divided by the best of the *other* "
              "baselines (MQ-CNN-IQF never among them), and on how many datasets that ratio is at most 1; "
              f"MQ-CNN-IQF is the configuration `{tag}`. The targets ask MQ-CNN-IQF for at most 1 on every "
              "dataset against the best of all eight.", ""]
    for split in SPLITS:
        summ = summarise(results, split, datasets, tag)
        if not summ["table"]:
            continue
        per = {k: against_rest(summ["table"], datasets, k) for k in RATIO_METRICS}
        models = [m for m in ("mqcnn",) + BASELINES if m in per[RATIO_METRICS[0]]]
        lines += [f"**{split} windows**", "",
                  "| model | " + " | ".join(METRIC_LABEL[k] for k in RATIO_METRICS) + " |",
                  "|---|" + "---:|" * len(RATIO_METRICS)]
        for m in models:
            cells = []
            for k in RATIO_METRICS:
                g, n_ok, n = per[k].get(m, (float("nan"), 0, 0))
                cells.append(f"{g:.3f} ({n_ok}/{n})")
            lines.append(f"| {LABEL[m]} | " + " | ".join(cells) + " |")
        lines.append("")
    held = [s for s in HELD_OUT if summarise(results, s, datasets, tag)["table"]]
    if len(held) > 1:
        lines += pooled_report(results, held, datasets, tag)
    lines += picked_report(results, datasets, tag)
    if choose:
        lines += choice_report(results, datasets, choose)
    exclude = [neutral[1]] if neutral else []  # the re-run with other seeds would count every pair twice
    lines += ["### Do changes on the validation windows carry to other windows?", "",
              "Every pair of the MQ-CNN-IQF configurations scored on both windows (the pairs share "
              "configurations, so they are not independent): the change of each metric's geometric mean "
              "ratio between the two configurations on the validation windows and on the other window. Per "
              "band of the size of the validation change: the share of pairs whose change has the same sign "
              "on the other window, of how many pairs.", ""]
    val = tag_geomeans(results, "validation", datasets)
    for other in ("test",) + tuple(s for s in SPLITS if s not in ("validation", "test")):
        second = tag_geomeans(results, other, datasets)
        common = sorted((set(val) & set(second)) - set(exclude))
        if len(common) < 3:
            continue
        lines += [f"**validation against {other}** ({len(common)} configurations: {', '.join(common)})", "",
                  "| metric | " + " | ".join(_band(lo, hi) for lo, hi in zip(BANDS[:-1], BANDS[1:]))
                  + " | correlation |",
                  "|---|" + "---:|" * len(BANDS)]
        for k in RATIO_METRICS:
            rows, corr, _ = agreement(val, second, k, exclude)
            by_band = {(lo, hi): (n, s) for lo, hi, n, s in rows}
            cells = [f"{by_band[b][1]:.2f} of {by_band[b][0]}" if b in by_band else "-"
                     for b in zip(BANDS[:-1], BANDS[1:])]
            lines.append(f"| {METRIC_LABEL[k]} | " + " | ".join(cells) + f" | {corr:.2f} |")
        lines.append("")
    if neutral:
        a, b = neutral
        lines += [f"### A change that does nothing: `{a}` against `{b}`", "",
                  "The same configuration trained with other seeds: the change of each geometric mean "
                  "(percent of the ratio) is the spread that seeds alone give.", "",
                  "| window | " + " | ".join(METRIC_LABEL[k] for k in RATIO_METRICS) + " |",
                  "|---|" + "---:|" * len(RATIO_METRICS)]
        for split in SPLITS:
            g = tag_geomeans(results, split, datasets)
            if a in g and b in g:
                lines.append(f"| {split} | " + " | ".join(f"{100 * (g[b][k] / g[a][k] - 1):+.2f} %"
                                                         for k in RATIO_METRICS) + " |")
        lines.append("")
    return "\n".join(lines)


def pooled_report(results: Dict[str, Any], splits: Sequence[str], datasets: Sequence[str], tag: str) -> List[str]:
    table = pooled_table(results, splits, datasets, tag)
    lines = [f"### The held-out windows pooled ({', '.join(splits)})", "",
             "Nothing is chosen on these windows. Each model's score on a dataset is the geometric mean over "
             "them of its seed mean; then, as the targets ask, MQ-CNN-IQF (`" + tag + "`) divided by the best "
             "baseline of each dataset and metric, that baseline in brackets; last row: the geometric mean over "
             "the datasets and on how many the ratio is at most 1. A model that failed on one of the windows "
             "(an infinite or undefined score) is left out of that dataset; one that failed on a few series "
             "only (a finite but large score) stays.", "",
             "| dataset | " + " | ".join(METRIC_LABEL[k] for k in RATIO_METRICS) + " |",
             "|---|" + "---:|" * len(RATIO_METRICS)]
    ratios = {k: against_best(table, datasets, k) for k in RATIO_METRICS}
    for d in datasets:
        if d in ratios[RATIO_METRICS[0]]:
            lines.append(f"| {d} | " + " | ".join(f"{ratios[k][d][0]:.3f} ({LABEL[ratios[k][d][1]]})"
                                                  for k in RATIO_METRICS) + " |")
    cells = []
    for k in RATIO_METRICS:
        rs = [r for r, _ in ratios[k].values()]
        cells.append(f"**{geometric_mean(rs):.3f}** ({sum(r <= 1 for r in rs)}/{len(rs)})" if rs else "-")
    lines += ["| geometric mean | " + " | ".join(cells) + " |", "",
              "Each model against the best of the *other* baselines, pooled the same way (as in the first "
              "table of this section):", "",
              "| model | " + " | ".join(METRIC_LABEL[k] for k in RATIO_METRICS) + " |",
              "|---|" + "---:|" * len(RATIO_METRICS)]
    per = {k: against_rest(table, datasets, k) for k in RATIO_METRICS}
    for m in [m for m in ("mqcnn",) + BASELINES if m in per[RATIO_METRICS[0]]]:
        lines.append(f"| {LABEL[m]} | " + " | ".join(
            "{:.3f} ({}/{})".format(*per[k][m]) if m in per[k] else "-" for k in RATIO_METRICS) + " |")
    return lines + [""]


def picked_report(results: Dict[str, Any], datasets: Sequence[str], tag: str) -> List[str]:
    rows = []
    for split in SPLITS:
        previous = previous_window(split)
        if previous is None:
            continue
        now, before = (summarise(results, s, datasets, tag)["table"] for s in (split, previous))
        per = {k: against_picked(now, before, datasets, k) for k in RATIO_METRICS}
        if not per[RATIO_METRICS[0]]:
            continue
        cells = []
        for k in RATIO_METRICS:
            rs = [r for r, _ in per[k].values()]
            cells.append(f"{geometric_mean(rs):.3f} ({sum(r <= 1 for r in rs)}/{len(rs)})" if rs else "-")
        rows.append(f"| {split} | {previous_window(split)} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    return ["### Against the baseline a forecaster would pick on the previous window", "",
            "The targets' best baseline is the best of eight on the window itself, known only after it. A "
            "forecaster picks a baseline per dataset (and metric) on the window before: the last H values of "
            f"the series the models train on. MQ-CNN-IQF (`{tag}`) divided by that pick: the geometric mean "
            "over the datasets and on how many the ratio is at most 1. A baseline without a finite score on "
            "both windows is not picked.", "",
            "| window | picked on | " + " | ".join(METRIC_LABEL[k] for k in RATIO_METRICS) + " |",
            "|---|---|" + "---:|" * len(RATIO_METRICS)] + rows + [""]


def choice_report(results: Dict[str, Any], datasets: Sequence[str], tags: Tuple[str, str]) -> List[str]:
    a, b = tags
    rows = []
    for split in SPLITS:
        previous = previous_window(split)
        if previous is None:
            continue
        now, before = ([summarise(results, s, datasets, t)["table"] for t in tags] for s in (split, previous))
        per = {k: choice_on_previous(now, before, datasets, k) for k in RATIO_METRICS}
        if per[RATIO_METRICS[0]] is None:
            continue
        rows.append(f"| {split} | {previous_window(split)} | " + " | ".join(
            "{:.3f} ({}/{})".format(*per[k]) if per[k] else "-" for k in RATIO_METRICS) + " |")
    if not rows:
        return []
    return [f"### Choosing `{a}` or `{b}` per dataset on the previous window", "",
            f"Per dataset and metric, whichever of the two configurations scored better on the previous "
            f"window (the training seeds both have): the geometric mean over the datasets of its score "
            f"divided by `{a}`'s, and on how many datasets the previous window's order held.", "",
            "| window | chosen on | " + " | ".join(METRIC_LABEL[k] for k in RATIO_METRICS) + " |",
            "|---|---|" + "---:|" * len(RATIO_METRICS)] + rows + [""]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default="benchmarks/results/accuracy.json")
    p.add_argument("--markdown", default="", help="file whose section is rewritten")
    p.add_argument("--datasets", default=",".join(DEV_SUITE))
    p.add_argument("--tag", default="default", help="the MQ-CNN-IQF configuration of the first table")
    p.add_argument("--neutral", default="", help="TAG_A,TAG_B: one configuration run with two seed sets")
    p.add_argument("--choose", default="", help="TAG_A,TAG_B: two configurations chosen between per dataset")
    args = p.parse_args(argv)
    args.datasets = [d for d in args.datasets.split(",") if d]
    for option in ("neutral", "choose"):
        value = getattr(args, option)
        pair = tuple(t for t in value.split(",") if t) if value else None
        if pair is not None and len(pair) != 2:
            p.error(f"--{option} takes two tags, got {value!r}")
        setattr(args, option, pair)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    results = load_results(Path(args.results))
    publish(report(results, args.datasets, args.tag, args.neutral, args.choose), args.markdown, HEADING)
    return 0


if __name__ == "__main__":
    sys.exit(main())
