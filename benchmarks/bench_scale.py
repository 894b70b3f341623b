#!/usr/bin/env python
"""Benchmark: forecasting many series end to end with ``gluonts-iqf
forecast``, series per second and peak memory per process.

1. Data: a long-format Parquet file of ``--series`` synthetic hourly series
   of ``--length`` values (seeded: a gamma-distributed level, daily and
   weekly seasonality of random phase, Gaussian noise, starts spread over
   30 days), written into a temporary folder; a second file of
   ``--memory-series`` series for the memory comparison.
2. Predictor: a small MQ-CNN-IQF trained by ``gluonts-iqf backtest`` on a
   sample of ``--train-series`` of those series (a few steps: accuracy is
   not measured), or ``--predictor DIR``.
3. Timed runs, each a fresh process, wall clock from start to exit
   (interpreter start, imports, reading, forecasting, writing):

   * ``old``: the per-series path this replaces: the long frame grouped by
     the per-series loader of commit ``OLD_COMMIT`` (read with ``git
     show``), ``predictor.predict`` yielding one forecast object per series,
     ``forecast_frame`` (one DataFrame, one ``to_timestamp`` and one
     quantile/mean call per series), one Parquet write;
   * ``local``: ``gluonts-iqf forecast --engine local`` (the vectorised
     path);
   * ``ray-N``: ``gluonts-iqf forecast --engine ray --num-workers N`` for
     each N of ``--workers`` (a local Ray instance started by the command);
   * ``ray-N-grouped``: the same with ``--grouped-input`` (the file holds
     each series' rows together), no shuffle.

   Then ``local`` and the Ray runs of the most workers on a second file
   of ``--memory-series`` series, and ``local`` and the grouped Ray run
   on a third of ``--large-series``.

   Peak memory: the high-water mark of the resident set (``VmHWM`` of
   ``/proc/PID/status``) of every process of the run, polled every 0.2 s:
   the command's own process (the single-process paths; Ray's driver) and,
   for Ray, each forecasting actor ("worker") and the largest of Ray's
   other worker processes (read and sort tasks).
4. Checks: the ``local`` table equals the ``old`` one (exact); the Ray
   tables hold the same rows (largest relative difference reported).
   Steady rate and fixed cost of each run timed on both files: the extra
   series over the extra seconds, and the rest of the smaller run's time.
5. The network alone: forward passes over pre-built input batches of a
   sample of series (series per second), the reference of the issue's
   "the network itself predicts about 4,000 series per second".

The machine (2 vCPUs) is shared with other jobs: the load average before and
after each run is recorded next to its timing.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_scale.py [--series 100000]
        [--length 120] [--horizon 24] [--workers 1,2] [--memory-series 20000]
        [--large-series 300000]
        [--predictor DIR] [--skip-old] [--output benchmarks/results/scale.json]
        [--markdown benchmarks/RESULTS.md]

Writes the raw numbers to ``--output`` and the section
``## Scale-out: batch forecasting`` of ``--markdown``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, cpu_model, package_version, rel, write_section  # noqa: E402

SECTION = "## Scale-out: batch forecasting"
#: The commit whose per-series loader ``gluonts_iqf/datasets/frames.py`` the
#: ``old`` run uses (the last one before the vectorised grouping).
OLD_COMMIT = "d26ca2d"
LEVELS = "0.5,0.9,0.95"
#: Targets of the issue: local >= 3,000 series/s; Ray with 2 workers >= 1.6x local.
TARGET_LOCAL, TARGET_RAY2 = 3000.0, 1.6


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--series", type=int, default=100_000, help="series in the timed file")
    p.add_argument("--length", type=int, default=120, help="values per series")
    p.add_argument("--horizon", type=int, default=24, help="prediction length of the trained predictor")
    p.add_argument("--memory-series", type=int, default=20_000,
                   help="series of the second file (memory vs number of series); 0: skip")
    p.add_argument("--large-series", type=int, default=300_000,
                   help="series of a third file, timed with local and the grouped Ray run of the most "
                        "workers (the steady rate from the two largest files); 0: skip")
    p.add_argument("--workers", default="1,2", help="Ray worker counts")
    p.add_argument("--train-series", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batches-per-epoch", type=int, default=20)
    p.add_argument("--predictor", default=None, metavar="DIR", help="use this saved predictor (no training)")
    p.add_argument("--skip-old", action="store_true", help="do not time the per-series path")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads of each process")
    p.add_argument("--workdir", default=None, help="folder for data and outputs (default: a temporary one)")
    p.add_argument("--output", default="benchmarks/results/scale.json")
    p.add_argument("--markdown", default="benchmarks/RESULTS.md")
    return p.parse_args(argv)


# --------------------------------------------------------------------------
# data and predictor


def make_data(path: Path, n: int, length: int, seed: int) -> Dict[str, Any]:
    """``n`` synthetic hourly series of ``length`` values as long-format
    Parquet (item_id, timestamp, target); returns the file's facts."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    t = np.arange(length)
    level = rng.gamma(2.0, 50.0, size=(n, 1))
    day = np.sin(2 * np.pi * (t + rng.integers(0, 24, (n, 1))) / 24)
    week = np.sin(2 * np.pi * (t + rng.integers(0, 168, (n, 1))) / 168)
    y = level * (1 + 0.4 * day + 0.2 * week) + rng.normal(0, 5, (n, length))
    starts = np.datetime64("2024-01-01T00") + rng.integers(0, 30 * 24, n).astype("timedelta64[h]")
    stamps = (starts[:, None] + t.astype("timedelta64[h]")).ravel().astype("datetime64[ns]")
    ids = np.char.add("item-", np.arange(n).astype(str)).astype(object)
    frame = pd.DataFrame({"item_id": np.repeat(ids, length), "timestamp": stamps,
                          "target": np.maximum(y, 0).ravel()})
    frame.to_parquet(path, index=False)
    return {"path": str(path), "series": n, "length": length, "rows": len(frame),
            "bytes": path.stat().st_size}


def train_predictor(workdir: Path, data: Path, args: argparse.Namespace) -> Path:
    """A small MQ-CNN-IQF trained by ``gluonts-iqf backtest`` on a sample of
    the series of ``data``; its ``predictor/`` folder."""
    import pandas as pd

    frame = pd.read_parquet(data)
    keep = frame["item_id"].drop_duplicates().sample(args.train_series, random_state=args.seed)
    sample = workdir / "train.parquet"
    frame[frame["item_id"].isin(set(keep))].to_parquet(sample, index=False)
    out = workdir / "run"
    cmd = [sys.executable, "-m", "gluonts_iqf.cli", "backtest", "--dataset", str(sample),
           "--prediction-length", str(args.horizon), "--epochs", str(args.epochs),
           "--batches-per-epoch", str(args.batches_per_epoch), "--seed", str(args.seed),
           "--no-plots", "--quiet", "--threads", str(args.threads), "--output", str(out), "--overwrite"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(args))
    if proc.returncode != 0:
        raise SystemExit(f"training failed: {proc.stderr[-2000:]}")
    return out / "predictor"


# --------------------------------------------------------------------------
# timed runs


def _env(args: argparse.Namespace) -> Dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads), MPLBACKEND="Agg")
    return env


def _children() -> Dict[int, int]:
    """pid -> parent pid of every process (from /proc)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return parents


def _descendants(root: int) -> List[int]:
    parents = _children()
    found, frontier = [root], [root]
    while frontier:
        frontier = [p for p, pp in parents.items() if pp in frontier and p not in found]
        found += frontier
    return found


def _peak(pid: int):
    """(VmHWM in MB, process title) of ``pid``, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            hwm = next((int(line.split()[1]) for line in fh if line.startswith("VmHWM:")), None)
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            title = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    return None if hwm is None else (hwm / 1024.0, title)


def timed(cmd: List[str], args: argparse.Namespace, label: str) -> Dict[str, Any]:
    """Run ``cmd``; wall time, exit status and the peak memory of each of
    its processes (polled every 0.2 s while it runs)."""
    peaks: Dict[int, Any] = {}
    load_before = os.getloadavg()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(args))
    done = threading.Event()

    def poll():
        while not done.is_set():
            for pid in _descendants(proc.pid):
                got = _peak(pid)
                if got is not None and (pid not in peaks or got[0] >= peaks[pid][0]):
                    peaks[pid] = got
            done.wait(0.2)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed ({proc.returncode}): {err[-3000:]}")
    main = peaks.get(proc.pid, (float("nan"), ""))[0]
    workers = sorted(mb for mb, title in peaks.values() if "Forecaster" in title)
    others = [mb for pid, (mb, title) in peaks.items()
              if title.startswith("ray::") and "Forecaster" not in title]
    return {
        "label": label, "command": " ".join(cmd), "wall_s": wall, "returncode": proc.returncode,
        "stdout": out.strip()[-500:], "peak_rss_mb_main": main, "peak_rss_mb_workers": workers,
        "peak_rss_mb_other_ray_max": max(others) if others else None,
        "load_before": list(load_before), "load_after": list(os.getloadavg()),
    }


OLD_SCRIPT = r'''
import importlib.util, sys, time
from pathlib import Path
spec = importlib.util.spec_from_file_location("gluonts_iqf.datasets._frames_old", sys.argv[1])
old = importlib.util.module_from_spec(spec); spec.loader.exec_module(old)
from gluonts_iqf.cli.forecast import forecast_frame, load_predictor
from gluonts_iqf.cli.runtime import configure_threads, quiet_libraries
from gluonts_iqf.cli.staging import write_frame_atomic
quiet_libraries(); configure_threads(int(sys.argv[5]))
predictor, info = load_predictor(sys.argv[2], "cpu")
entries = old.load_long_frame(sys.argv[3], min_length=1)
forecasts = list(predictor.predict(entries))
frame = forecast_frame(forecasts, [float(a) for a in sys.argv[6].split(",")])
write_frame_atomic(frame, Path(sys.argv[4]))
print(f"wrote {len(frame)} rows")
'''


def old_frames_module(workdir: Path) -> Optional[Path]:
    """The per-series loader of :data:`OLD_COMMIT`, written to ``workdir``
    (None when git cannot show it)."""
    proc = subprocess.run(["git", "show", f"{OLD_COMMIT}:gluonts_iqf/datasets/frames.py"],
                          capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        return None
    path = workdir / "frames_old.py"
    path.write_text(proc.stdout)
    return path


def network_rate(predictor_dir: Path, data: Path, n: int = 5000) -> Dict[str, Any]:
    """Series per second of the network's forward pass alone, over
    pre-built input batches of the first ``n`` series."""
    import pandas as pd
    import torch
    from gluonts.dataset.loader import InferenceDataLoader
    from gluonts.itertools import select
    from gluonts.torch.batchify import batchify
    from gluonts.transform import SelectFields

    from gluonts_iqf.datasets import load_long_frame
    from gluonts_iqf.scale import load_predictor

    predictor, _ = load_predictor(predictor_dir)
    frame = pd.read_parquet(data)
    frame = frame[frame["item_id"].isin(set(frame["item_id"].drop_duplicates().iloc[:n]))]
    entries = load_long_frame(frame)
    batches = list(InferenceDataLoader(
        entries, transform=predictor.input_transform + SelectFields(predictor.input_names, allow_missing=True),
        batch_size=predictor.batch_size, stack_fn=lambda d: batchify(d, "cpu")))
    net = predictor.prediction_net.eval()
    with torch.no_grad():
        net(**select(predictor.input_names, batches[0], ignore_missing=True))  # warm-up
        start = time.perf_counter()
        for b in batches:
            net(**select(predictor.input_names, b, ignore_missing=True))
        wall = time.perf_counter() - start
    return {"series": len(entries), "batch_size": predictor.batch_size, "wall_s": wall,
            "series_per_s": len(entries) / wall}


def compare(a: Path, b: Path, exact: bool) -> Dict[str, Any]:
    """Whether two forecast tables hold the same rows (``exact``: the same
    frame, row order included) and their largest relative difference."""
    import numpy as np
    import pandas as pd

    x, y = pd.read_parquet(a), pd.read_parquet(b)
    out: Dict[str, Any] = {"rows": [len(x), len(y)]}
    if exact:
        out["identical"] = bool(x.equals(y))
    key = ["item_id", "step"]
    x = x.sort_values(key).reset_index(drop=True)
    y = y.sort_values(key).reset_index(drop=True)
    same_keys = len(x) == len(y) and x[["item_id", "timestamp", "step"]].equals(y[["item_id", "timestamp", "step"]])
    out["same_rows"] = bool(same_keys)
    if same_keys:
        num = [c for c in x.columns if c not in ("item_id", "timestamp", "step")]
        u, v = x[num].to_numpy(), y[num].to_numpy()
        out["max_rel_diff"] = float(np.max(np.abs(u - v) / np.maximum(np.abs(u), 1e-12)))
    return out


# --------------------------------------------------------------------------
# report


def environment(args: argparse.Namespace) -> Dict[str, Any]:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(), "platform": platform.platform(), "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(), "threads_per_process": args.threads,
        "load_average_start": list(os.getloadavg()), "git_commit": commit.stdout.strip() or None,
        "versions": {n: package_version(n) for n in ("torch", "gluonts", "numpy", "pandas", "pyarrow", "ray",
                                                       "gluonts-iqf")},
    }


def sizes_of(res: Dict[str, Any], name: str) -> List[Any]:
    """(series, run) of every file the run ``name`` was timed on, by size."""
    out = []
    for data, runs in (("memory_data", "memory_runs"), ("data", "runs"), ("large_data", "large_runs")):
        if name in res.get(runs, {}):
            out.append((res[data]["series"], res[runs][name]))
    return sorted(out, key=lambda x: x[0])


def steady_state(res: Dict[str, Any]) -> Dict[str, Any]:
    """Per run timed on at least two files: the steady rate (the extra
    series over the extra seconds between the two largest files) and the
    fixed cost (the smaller one's time beyond its series at that rate:
    start-up, imports, loads, shutdown, the last pieces' imbalance)."""
    out: Dict[str, Any] = {}
    for name in res["runs"]:
        timed_on = sizes_of(res, name)
        if len(timed_on) < 2:
            continue
        (n_small, small), (n_big, big) = timed_on[-2:]
        if big["wall_s"] <= small["wall_s"]:
            continue
        rate = (n_big - n_small) / (big["wall_s"] - small["wall_s"])
        out[name] = {"series_per_s": rate, "fixed_s": small["wall_s"] - n_small / rate,
                     "between": [n_small, n_big]}
    return out


def _mb(x) -> str:
    return "-" if x is None else f"{x:,.0f}"


def markdown(res: Dict[str, Any]) -> str:
    env, runs, n = res["environment"], res["runs"], res["data"]["series"]
    local = runs.get("local", {}).get("series_per_s")
    lines = [
        SECTION, "",
        f"`benchmarks/bench_scale.py` ({env['date_utc']}, commit {env['git_commit']}, {env['cpu_model']}, "
        f"{env['logical_cpus']} vCPUs shared with other jobs, {env['threads_per_process']} torch thread per process; "
        f"Ray {env['versions'].get('ray')}). `gluonts-iqf forecast` end to end (process start to exit: imports, "
        f"reading, grouping, forecasting, writing) on a long-format Parquet of {n:,} synthetic hourly series "
        f"of {res['data']['length']} values, levels {LEVELS}, a small MQ-CNN-IQF (H = {res['horizon']}, "
        f"{res['predictor']}). Peak memory: high-water resident set of each process.",
        "",
        "| run | wall s | series/s | vs old | vs local | peak MB, main process | peak MB per worker | load before/after |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    old = runs.get("old", {}).get("series_per_s")
    for name, r in runs.items():
        vs_old = f"{r['series_per_s'] / old:.2f}x" if old else "-"
        vs_local = f"{r['series_per_s'] / local:.2f}x" if local else "-"
        workers = ", ".join(_mb(w) for w in r["peak_rss_mb_workers"]) or "-"
        lines.append(f"| {name} | {r['wall_s']:.1f} | {r['series_per_s']:,.0f} | {vs_old} | {vs_local} | "
                     f"{_mb(r['peak_rss_mb_main'])} | {workers} | "
                     f"{r['load_before'][0]:.1f} / {r['load_after'][0]:.1f} |")
    several = [name for name in runs if len(sizes_of(res, name)) > 1]
    if several:
        lines += ["", "Time and memory against the number of series (the same settings on files of other "
                      "sizes):", "",
                  "| run | series | wall s | series/s | vs local | peak MB, main process | peak MB per worker |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for name in several:
            local_at = dict(sizes_of(res, "local"))
            for size, rr in sizes_of(res, name):
                base = local_at.get(size)
                ratio = f"{base['wall_s'] / rr['wall_s']:.2f}x" if base else "-"
                lines.append(f"| {name} | {size:,} | {rr['wall_s']:.1f} | {size / rr['wall_s']:,.0f} | {ratio} | "
                             f"{_mb(rr['peak_rss_mb_main'])} | "
                             f"{', '.join(_mb(w) for w in rr['peak_rss_mb_workers']) or '-'} |")
    steady = res.get("steady", {})
    if steady and "local" in steady:
        lines += ["", "Steady rate and fixed cost, from the two largest files each run was timed on (the extra "
                      "series over the extra seconds; fixed: the rest of the smaller file's time):", "",
                  "| run | files | steady series/s | vs local | fixed s |", "|---|---|---:|---:|---:|"]
        for name, r in steady.items():
            lines.append(f"| {name} | {r['between'][0]:,} / {r['between'][1]:,} | {r['series_per_s']:,.0f} | "
                         f"{r['series_per_s'] / steady['local']['series_per_s']:.2f}x | {r['fixed_s']:.1f} |")
    checks = res.get("checks", {})
    lines += ["", f"Prediction network alone (the network and its statistical members; forward passes over pre-built batches of {res['network']['series']:,} series, "
                  f"batch {res['network']['batch_size']}): {res['network']['series_per_s']:,.0f} series/s."]
    if "local_vs_old" in checks:
        lines.append(f"Same results: the local table equals the old one: {checks['local_vs_old'].get('identical')}.")
    for name, c in checks.items():
        if name.startswith("ray"):
            lines.append(f"{name}: same rows as local: {c.get('same_rows')}, largest relative difference "
                         f"{c.get('max_rel_diff', float('nan')):.1e} (float32 rounding in other batches).")
    targets = res["targets"]
    lines += ["", f"Targets of the issue: local >= {TARGET_LOCAL:,.0f} series/s: "
                  f"{'met' if targets['local_met'] else 'not met'} ({local or 0:,.0f}); Ray with 2 workers >= "
                  f"{TARGET_RAY2}x local: {targets['ray2_ratio']:.2f}x (grouped input: "
                  f"{targets.get('ray2_grouped_ratio', 0.0):.2f}x), {'met' if targets['ray2_met'] else 'not met'}."]
    lines += ["", "Raw numbers: `" + res["json"] + "`.", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    own_dir = args.workdir is None
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench_scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    res: Dict[str, Any] = {"environment": environment(args), "settings": vars(args), "horizon": args.horizon}
    try:
        data = workdir / "series.parquet"
        t = time.perf_counter()
        res["data"] = make_data(data, args.series, args.length, args.seed)
        res["data"]["generate_s"] = time.perf_counter() - t
        print(f"data: {args.series:,} series in {res['data']['generate_s']:.1f}s", flush=True)
        if args.predictor:
            predictor = Path(args.predictor)
            res["predictor"] = f"given: {args.predictor}"
        else:
            t = time.perf_counter()
            predictor = train_predictor(workdir, data, args)
            res["predictor"] = (f"trained by gluonts-iqf backtest on {args.train_series} of the series, "
                                f"{args.epochs} x {args.batches_per_epoch} steps")
            print(f"predictor trained in {time.perf_counter() - t:.1f}s", flush=True)
        res["network"] = network_rate(predictor, data)
        print(f"prediction network alone: {res['network']['series_per_s']:,.0f} series/s", flush=True)

        cli = [sys.executable, "-m", "gluonts_iqf.cli", "forecast", "--predictor", str(predictor),
               "--levels", LEVELS, "--threads", str(args.threads)]

        def plan(source: Path, tag: str) -> Dict[str, List[str]]:
            runs: Dict[str, List[str]] = {}
            if not args.skip_old and tag == "":
                module = old_frames_module(workdir)
                if module is not None:
                    runs["old"] = [sys.executable, "-c", OLD_SCRIPT, str(module), str(predictor), str(source),
                                   str(workdir / f"old{tag}.parquet"), str(args.threads), LEVELS]
            runs["local"] = cli + ["--input", str(source), "--output", str(workdir / f"local{tag}.parquet"),
                                   "--overwrite", "--quiet"]
            for w in workers:
                runs[f"ray-{w}"] = cli + ["--input", str(source), "--engine", "ray", "--num-workers", str(w),
                                          "--output", str(workdir / f"ray{w}{tag}"), "--overwrite"]
                runs[f"ray-{w}-grouped"] = cli + ["--input", str(source), "--engine", "ray", "--num-workers",
                                                  str(w), "--grouped-input", "--output",
                                                  str(workdir / f"ray{w}g{tag}"), "--overwrite"]
            return runs

        res["runs"] = {}
        for name, cmd in plan(data, "").items():
            r = timed(cmd, args, name)
            r["series_per_s"] = args.series / r["wall_s"]
            res["runs"][name] = r
            print(f"{name:8s} {r['wall_s']:7.1f}s {r['series_per_s']:9,.0f} series/s  peak main "
                  f"{r['peak_rss_mb_main']:,.0f} MB workers {r['peak_rss_mb_workers']}  "
                  f"load {r['load_before'][0]:.1f}->{r['load_after'][0]:.1f}", flush=True)

        checks: Dict[str, Any] = {}
        if "old" in res["runs"]:
            checks["local_vs_old"] = compare(workdir / "old.parquet", workdir / "local.parquet", exact=True)
        for w in workers:
            checks[f"ray-{w}_vs_local"] = compare(workdir / "local.parquet", workdir / f"ray{w}", exact=False)
            checks[f"ray-{w}-grouped_vs_local"] = compare(workdir / "local.parquet", workdir / f"ray{w}g",
                                                          exact=False)
        res["checks"] = checks

        if args.memory_series:
            small = workdir / "series_small.parquet"
            res["memory_data"] = make_data(small, args.memory_series, args.length, args.seed + 1)
            res["memory_runs"] = {}
            for name, cmd in plan(small, "_small").items():
                if name == "local" or (workers and name.startswith(f"ray-{max(workers)}")):
                    r = timed(cmd, args, name)
                    r["series_per_s"] = args.memory_series / r["wall_s"]
                    res["memory_runs"][name] = r
                    print(f"{name:8s} ({args.memory_series:,} series) peak main {r['peak_rss_mb_main']:,.0f} MB "
                          f"workers {r['peak_rss_mb_workers']}", flush=True)

        if args.large_series:
            large = workdir / "series_large.parquet"
            res["large_data"] = make_data(large, args.large_series, args.length, args.seed + 2)
            res["large_runs"] = {}
            for name, cmd in plan(large, "_large").items():
                if name == "local" or (workers and name == f"ray-{max(workers)}-grouped"):
                    r = timed(cmd, args, name)
                    r["series_per_s"] = args.large_series / r["wall_s"]
                    res["large_runs"][name] = r
                    print(f"{name:8s} ({args.large_series:,} series) {r['wall_s']:7.1f}s "
                          f"{r['series_per_s']:9,.0f} series/s", flush=True)
            large.unlink()

        runs = res["runs"]
        local = runs["local"]["series_per_s"]
        ray2 = runs.get("ray-2", {}).get("series_per_s")
        res["ratios"] = {name: {"vs_old": r["series_per_s"] / runs["old"]["series_per_s"] if "old" in runs else None,
                                "vs_local": r["series_per_s"] / local} for name, r in runs.items()}
        grouped2 = runs.get("ray-2-grouped", {}).get("series_per_s")
        res["steady"] = steady_state(res)
        res["targets"] = {"local_met": local >= TARGET_LOCAL, "ray2_ratio": (ray2 or 0.0) / local,
                          "ray2_grouped_ratio": (grouped2 or 0.0) / local,
                          "ray2_met": bool(max(ray2 or 0.0, grouped2 or 0.0) / local >= TARGET_RAY2)}
        print("\n" + "  ".join(f"{k}: {v['vs_old'] or float('nan'):.2f}x old, {v['vs_local']:.2f}x local"
                               for k, v in res["ratios"].items()))

        out = REPO / args.output if not Path(args.output).is_absolute() else Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        res["json"] = rel(out)
        out.write_text(json.dumps(res, indent=2, default=float) + "\n")
        if args.markdown:
            md = REPO / args.markdown if not Path(args.markdown).is_absolute() else Path(args.markdown)
            write_section(md, SECTION, markdown(res))
        print(f"wrote {rel(out)}" + (f" and the section {SECTION!r} of {args.markdown}" if args.markdown else ""))
    finally:
        if own_dir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
