#!/usr/bin/env python
"""Data-parallel training throughput: MQ-CNN-IQF on 1 process vs 2 DDP
processes (CPU, gloo), the same steps and per-process batch (so 2 processes
see twice the windows per step).

Each configuration runs in a fresh process (DDP's launcher starts the second
rank by re-running this script); the fit's wall time is taken between
Lightning's ``on_train_start`` and ``on_train_end`` on rank 0, so
interpreter start, imports and data loading are excluded.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_ddp.py [--steps 300] [--batch-size 32] \\
        [--markdown benchmarks/RESULTS.md] [--output benchmarks/results/ddp.json]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, cpu_model, package_version, write_section  # noqa: E402

SECTION = "## Data-parallel training (Lightning DDP)"


def train(devices: int, steps: int, batch_size: int, out: str) -> None:
    """One fit (run in a child process); rank 0 writes its timing to ``out``."""
    import lightning.pytorch as pl
    import torch

    from gluonts_iqf import MQCNNEstimator, datasets

    torch.set_num_threads(1)

    class Clock(pl.Callback):
        def on_train_start(self, trainer, pl_module):
            self.t0 = time.perf_counter()

        def on_train_end(self, trainer, pl_module):
            self.seconds = time.perf_counter() - self.t0

    clock = Clock()
    trainer = dict(max_epochs=steps // 50, accelerator="cpu", devices=devices, enable_progress_bar=False,
                   enable_model_summary=False, logger=False, default_root_dir=out + ".root", callbacks=[clock])
    if devices > 1:
        trainer["strategy"] = "ddp"
    pl.seed_everything(0)
    est = MQCNNEstimator(freq="h", prediction_length=48, batch_size=batch_size, num_batches_per_epoch=50,
                         trainer_kwargs=trainer)
    est.train(list(datasets.load("m4_hourly").train))
    if int(os.environ.get("LOCAL_RANK", 0)) == 0:
        Path(out).write_text(json.dumps({"devices": devices, "steps": steps, "batch_size": batch_size,
                                         "fit_s": clock.seconds}))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--output", default="benchmarks/results/ddp.json")
    p.add_argument("--markdown", default="benchmarks/RESULTS.md")
    p.add_argument("--child", nargs=2, metavar=("DEVICES", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        train(int(args.child[0]), args.steps, args.batch_size, args.child[1])
        return 0
    runs = []
    for devices in (1, 2):
        out = f"/tmp/bench_ddp_{devices}.json"
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
        load = os.getloadavg()[0]
        subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--batch-size", str(args.batch_size),
                        "--child", str(devices), out], check=True, env=env, capture_output=True)
        r = json.loads(Path(out).read_text())
        r.update(steps_per_s=r["steps"] / r["fit_s"], windows_per_s=r["steps"] * r["batch_size"] * devices / r["fit_s"],
                 load_before=load)
        runs.append(r)
        print(f"{devices} process(es): {r['steps_per_s']:.1f} steps/s, {r['windows_per_s']:.0f} windows/s", flush=True)
    one, two = runs
    result = {"runs": runs, "cpu": cpu_model(), "torch": package_version("torch"),
              "lightning": package_version("lightning"), "cpus": os.cpu_count()}
    Path(args.output).write_text(json.dumps(result, indent=1))
    lines = [SECTION, "",
             f"`python benchmarks/bench_ddp.py --steps {args.steps} --batch-size {args.batch_size}` "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {result['cpu']}, {result['cpus']} vCPUs "
             f"shared with other jobs; torch {result['torch']}, lightning {result['lightning']}; 1 torch thread per "
             "process). MQ-CNN-IQF defaults on m4_hourly (414 series, H = 48); the fit's wall time on rank 0 "
             "(imports and data loading excluded); each process draws its own batch, so 2 processes see twice "
             "the windows per step.", "",
             "| processes | steps/s | training windows/s | vs 1 process (windows/s) | load average before |",
             "|---:|---:|---:|---:|---:|"]
    for r in runs:
        lines.append(f"| {r['devices']} | {r['steps_per_s']:.1f} | {r['windows_per_s']:.0f} | "
                     f"{r['windows_per_s'] / one['windows_per_s']:.2f}x | {r['load_before']:.1f} |")
    lines += ["", "Raw numbers: `benchmarks/results/ddp.json`.", ""]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        write_section(REPO / args.markdown, SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
