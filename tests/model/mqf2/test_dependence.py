"""MQF² learns the dependence across the horizon: on AR(1) noise around a
daily profile (:func:`~gluonts_iqf.model.mqf2.synthetic.ar1_daily`), the
correlation of the sampled paths approaches the known conditional
correlation within a short fit, and the default start of the low-rank
quadratic term (``quadratic_share``) is what gets it there."""

import lightning.pytorch as pl
import numpy as np
import torch

from gluonts_iqf import MQF2Estimator
from gluonts_iqf.model.mqf2.synthetic import ar1_daily, ar1_forecast_correlation

H, RHO, STEPS = 8, 0.8, 100


def correlation_error(share, tmp_path):
    """Mean abs off-diagonal error of the window-averaged sample correlation
    (1000 paths per window, 40 windows) after ``STEPS`` steps, batch 32."""
    train, test = ar1_daily(seed=3, num_series=80, num_days=14, horizon=H, rho=RHO)
    kwargs = {} if share is None else {"quadratic_share": share}
    est = MQF2Estimator(
        freq="h", prediction_length=H, batch_size=32, num_batches_per_epoch=50, hidden_dim=20,
        trainer_kwargs=dict(max_epochs=STEPS // 50, accelerator="cpu", enable_progress_bar=False,
                            enable_model_summary=False, logger=False, default_root_dir=str(tmp_path)),
        **kwargs,
    )
    pl.seed_everything(0, workers=True, verbose=False)
    predictor = est.train(train)
    torch.manual_seed(1)
    inputs = [{**e, "target": e["target"][:-H]} for e in test[:40]]
    samples = np.stack([f.samples for f in predictor.predict(inputs, num_samples=1000)])  # (40, 1000, H)
    assert np.isfinite(samples).all()
    corr = np.mean([np.corrcoef(s.T) for s in samples], 0)
    off = ~np.eye(H, dtype=bool)
    return float(np.abs(corr - ar1_forecast_correlation(RHO, H))[off].mean())


def test_default_start_learns_the_correlation_within_100_steps(tmp_path):
    """Seeded (data seed 3, training seed 0, sampling seed 1). The default
    (``quadratic_share=0.8``) ends within 0.2 of the true correlation on
    average and at most 0.7x the error of the small random start of
    earlier versions (``quadratic_share=0``), which stays near independent
    paths (at these seeds: about 0.09 against 0.30)."""
    default = correlation_error(None, tmp_path / "default")
    small = correlation_error(0.0, tmp_path / "small")
    assert default < 0.2, default
    assert default < 0.7 * small, (default, small)
