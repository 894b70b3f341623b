"""How fast MQF² learns the dependence across the horizon, over seeds: the
``ar1_daily`` set of ``bench_mqf2.py`` (200 hourly series, AR(1) noise with
rho 0.8 around a daily profile, H = 12, batch 32, the estimators' defaults
otherwise) drawn with several data seeds, ours at several
``quadratic_share`` values and GluonTS's ``MQF2MultiHorizonEstimator``,
each trained for ``--steps`` steps with the data seed as training seed.

Protocol: ``quadratic_share`` is chosen on the *validation* draws
(``--validation-seeds``, data the reported draws never use) by the mean
correlation error; the *test* draws (``--seeds``) report every share and
GluonTS side by side. Measures per run: the mean abs off-diagonal error of
the forecast correlation matrix (sample correlation of 2000 paths per
window, averaged over the 200 windows) against
:func:`gluonts_iqf.model.mqf2.synthetic.ar1_forecast_correlation`, its max,
the energy score (100 paths, data units) and GluonTS's mean wQL (0.1..0.9).

Usage::

    python benchmarks/bench_mqf2_dependence.py --steps 300 --seeds 0,1,2 \\
        --validation-seeds 10,11,12 --shares 0,0.5,0.65,0.8,0.9
"""

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_mqf2 as B  # noqa: E402
from _common import write_section  # noqa: E402

SECTION = "## MQF²: learning the dependence across the horizon (ar1_daily, seeds)"


def _floats(text: str) -> List[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _ints(text: str) -> List[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seeds", default="0,1,2", help="test draws (data and training seeds)")
    p.add_argument("--validation-seeds", default="10,11,12", help="draws the share is chosen on")
    p.add_argument("--shares", default="0,0.5,0.65,0.8,0.9", help="quadratic_share values of ours")
    p.add_argument("--no-gluonts", action="store_true", help="skip GluonTS's MQF2 on the test draws")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--output", default="benchmarks/results/mqf2_dependence.json")
    p.add_argument("--markdown", default="benchmarks/RESULTS.md", help="'' to skip")
    p.add_argument("--from-json", default=None, metavar="PATH",
                   help="only rewrite the RESULTS.md section from a results JSON")
    args = p.parse_args(argv)
    args.seeds, args.validation_seeds = _ints(args.seeds), _ints(args.validation_seeds)
    args.shares = _floats(args.shares)
    if not args.seeds or not args.shares:
        p.error("--seeds and --shares must not be empty")
    if set(args.seeds) & set(args.validation_seeds):
        p.error("validation draws must differ from the test draws")
    if any(not 0.0 <= s < 1.0 for s in args.shares):
        p.error("--shares must lie in [0, 1)")
    return args


def run_one(model: str, seed: int, steps: int, share: Optional[float]) -> Dict[str, Any]:
    """One fit on the ``seed`` draw and its measures."""
    import lightning
    import torch

    ours = ["--ours-kwargs", json.dumps({"quadratic_share": share})] if model == "ours" else []
    args = B.parse_args(["--datasets", "ar1_daily", "--steps", str(steps), "--seed", str(seed), *ours])
    data = B.load_data("ar1_daily", args)
    est = B.make_estimator(model, data, args, tempfile.mkdtemp(prefix="bench_mqf2_dep_"), B._step_timer())
    lightning.seed_everything(seed, verbose=False)
    t0 = time.perf_counter()
    predictor = est.train(data["train"])
    fit_s = time.perf_counter() - t0
    torch.manual_seed(seed + 1)
    fc = list(predictor.predict(data["inputs"], num_samples=B.NUM_SAMPLES))
    es = B.energy_scores(fc, data["truth"])
    rec = {"model": model, "seed": seed, "quadratic_share": share, "fit_s": fit_s,
           "energy_score": es["energy_score"],
           "mean_wQuantileLoss": B.evaluate(fc, data["tss"])["mean_wQuantileLoss"]}
    corr = B.corr_error(predictor, data, seed + 2)
    rec.update(corr_mean_abs_err=corr["corr_mean_abs_err_offdiag"], corr_max_abs_err=corr["corr_max_abs_err"])
    print(f"  {model} share={share} seed={seed}: corr err {rec['corr_mean_abs_err']:.3f} "
          f"(max {rec['corr_max_abs_err']:.3f}), ES {rec['energy_score']:.4g}, "
          f"wQL {rec['mean_wQuantileLoss']:.4f}, fit {fit_s:.1f}s", flush=True)
    return rec


def _mean(xs):
    return sum(xs) / len(xs)


def markdown(payload: Dict[str, Any]) -> str:
    env, runs = payload["environment"], payload["runs"]
    shares, seeds = payload["settings"]["shares"], payload["settings"]["seeds"]
    lines = [SECTION, "", f"Command: `{payload['command']}`  ",
             f"Date: {env['date_utc']}; code: commit `{env['git_commit']}`; total wall time "
             f"{payload['wall_s'] / 60:.1f} min  ",
             f"Hardware: {env['cpu_model']} ({env['logical_cpus']} logical CPUs, shared), torch threads "
             f"{env['torch_threads']}", "",
             "Protocol: " + payload["protocol"], ""]
    val = [r for r in runs if r["split"] == "validation"]
    if val:
        lines += ["Validation draws (seeds " + ", ".join(map(str, payload["settings"]["validation_seeds"]))
                  + "): mean correlation error by share: "
                  + ", ".join(f"{s:g}: {_mean([r['corr_mean_abs_err'] for r in val if r['quadratic_share'] == s]):.3f}"
                              for s in shares)
                  + f"; chosen: **{payload['chosen_share']:g}**.", ""]
    head = ["model"] + [f"seed {s}" for s in seeds] + ["mean"]
    for key, title in [("corr_mean_abs_err", "correlation matrix, mean abs off-diagonal error"),
                       ("corr_max_abs_err", "correlation matrix, max abs error"),
                       ("energy_score", "energy score (data units)"),
                       ("mean_wQuantileLoss", "mean wQL (0.1..0.9)")]:
        lines += [f"Test draws, {title}, after {payload['settings']['steps']} steps:", "",
                  "| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
        groups = [(f"ours, quadratic_share {s:g}", "ours", s) for s in shares]
        if any(r["model"] == "gluonts" for r in runs):
            groups.append(("GluonTS MQF2MultiHorizonEstimator", "gluonts", None))
        for label, model, share in groups:
            vals = [next(r[key] for r in runs if r["split"] == "test" and r["model"] == model
                         and r["seed"] == s and r["quadratic_share"] == share) for s in seeds]
            fmt = "{:.3f}" if key.startswith("corr") else "{:.4g}"
            lines.append("| " + " | ".join([label] + [fmt.format(v) for v in vals] + [fmt.format(_mean(vals))]) + " |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        payload = json.loads(Path(args.from_json).read_text())
        write_section(Path(args.markdown), SECTION, markdown(payload))
        print(f"wrote section '{SECTION}' of {args.markdown} from {args.from_json}")
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    B._quiet()
    t0 = time.perf_counter()
    runs = []
    for seed in args.validation_seeds:
        for share in args.shares:
            runs.append({"split": "validation", **run_one("ours", seed, args.steps, share)})
    chosen = None
    if args.validation_seeds:
        chosen = min(args.shares, key=lambda s: _mean([r["corr_mean_abs_err"] for r in runs
                                                        if r["quadratic_share"] == s]))
    for seed in args.seeds:
        for share in args.shares:
            runs.append({"split": "test", **run_one("ours", seed, args.steps, share)})
        if not args.no_gluonts:
            runs.append({"split": "test", **run_one("gluonts", seed, args.steps, None)})
    argv_list = sys.argv[1:] if argv is None else argv
    payload = {
        "command": "python benchmarks/bench_mqf2_dependence.py " + " ".join(shlex.quote(a) for a in argv_list),
        "settings": {"steps": args.steps, "seeds": args.seeds, "validation_seeds": args.validation_seeds,
                     "shares": args.shares, "batch_size": 32, "picnn_hidden": 20, "es_num_samples": 50},
        "protocol": ("the share is chosen on the validation draws (other data seeds) by the mean correlation "
                     "error; the test draws report every share and GluonTS's MQF2 side by side, each run "
                     "trained with its draw's seed. Both models: PICNN 20 x 2, energy score with 50 "
                     "samples, batch 32, Adam lr 1e-3."),
        "environment": B.environment(argparse.Namespace()), "chosen_share": chosen, "runs": runs,
        "wall_s": time.perf_counter() - t0,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    print(f"wrote {out}")
    if args.markdown:
        write_section(Path(args.markdown), SECTION, markdown(payload))
        print(f"wrote section '{SECTION}' of {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
