#!/usr/bin/env python
"""One entry point for the benchmark scripts: ``python benchmarks/run.py
NAME [options]``.

Usage::

    python benchmarks/run.py iqf   [options of bench_iqf.py]
    python benchmarks/run.py mqcnn [options of bench_mqcnn.py]
    python benchmarks/run.py mqf2  [options of bench_mqf2.py]
    python benchmarks/run.py accuracy [options of bench_accuracy.py]
    python benchmarks/run.py scale [options of bench_scale.py]
    python benchmarks/run.py ddp   [options of bench_ddp.py]
    python benchmarks/run.py mqf2_dependence [options of bench_mqf2_dependence.py]
    python benchmarks/run.py NAME --help

Each name runs the ``main`` of its script with the remaining arguments,
exactly as ``python benchmarks/bench_NAME.py ...`` would (results JSON under
``benchmarks/results/``, its own section of ``benchmarks/RESULTS.md``).
"""

import importlib
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: benchmark name -> (module, what it compares)
BENCHMARKS = {
    "iqf": ("bench_iqf", "the IQF distribution vs GluonTS's ISQF, operation by operation"),
    "mqcnn": ("bench_mqcnn", "MQ-CNN-IQF vs GluonTS DeepAR, SFF, TFT and statsforecast baselines"),
    "mqf2": ("bench_mqf2", "MQF2Estimator vs GluonTS's MQF2MultiHorizonEstimator"),
    "accuracy": ("bench_accuracy", "MQ-CNN-IQF vs statistical and deep baselines on validation and test windows"),
    "scale": ("bench_scale", "batch forecasting: per-series, vectorised local and Ray paths"),
    "ddp": ("bench_ddp", "MQ-CNN-IQF training on 1 process vs 2 DDP processes (CPU, gloo)"),
    "mqf2_dependence": ("bench_mqf2_dependence", "how fast MQF2 learns the horizon correlation, over seeds"),
}


def usage() -> str:
    lines = ["usage: python benchmarks/run.py NAME [options]  (NAME --help for its options)", ""]
    lines += [f"  {name:8s} {what}" for name, (_, what) in BENCHMARKS.items()]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in BENCHMARKS:
        print(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}\n",
              file=sys.stderr)
        print(usage(), file=sys.stderr)
        return 2
    module = importlib.import_module(BENCHMARKS[name][0])
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
