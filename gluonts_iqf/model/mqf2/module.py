"""MQF² network: MQ-CNN's causal encoder, a context per forecast creation
time, and a convex potential (PICNN) whose gradient is the joint quantile
map.

Event layouts (``joint``):

* ``"horizon"``: one series, ``d = H`` (the paper's multi-horizon setting);
* ``"all"``: ``target_dim`` series jointly over every step and series,
  ``d = H * target_dim``, ordered step-major (``h * target_dim + k``) like
  GluonTS's multivariate samples (H, target_dim);
* ``"step"``: ``target_dim`` series jointly at each step, ``d = target_dim``,
  one PICNN shared across steps with a per-step context.
"""

from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from gluonts.torch.util import weighted_average

from ...distributions.convex import ConvexQuantileMap, ConvexQuantileOutput
from ...nn.encoder import CausalConvEncoder
from ...nn.forking import forking_targets, forking_windows
from ...nn.lags import gather_seasonal_lags, seasonal_lag_offsets
from ...nn.location import seasonal_naive_linear
from ...nn.mlp import mlp
from ...nn.scaler import CausalMeanScaler
from ...nn.distributed import broadcast_module
from ...nn.static import static_embedder, static_features

JOINT = ("horizon", "all", "step")


class MQF2Model(nn.Module):
    """MQF² with an MQ-CNN encoder.

    Parameters
    ----------
    prediction_length, context_length, num_forking
        As in MQ-CNN (creation times are the last ``num_forking`` positions).
    target_dim
        Number of series modelled jointly (1 = univariate).
    joint
        ``"horizon"`` (univariate), ``"all"`` or ``"step"`` (multivariate).
    convex_output
        :class:`ConvexQuantileOutput` (PICNN size, loss, energy-score
        samples); its ``dim`` must match the event size of ``joint``.
    num_feat_dynamic_real
        Known covariates per step (time features, age, dataset covariates).
    num_past_feat_dynamic_real
        Covariates known only in the past (encoder inputs).
    num_feat_static_real, cardinality, embedding_dimension
        Static real features and categorical features with their embedding
        sizes: inputs of the encoder (at every position) and of the context.
    channels_seq, dilation_seq, kernel_size_seq
        Encoder convolutions.
    context_dim
        Size of the PICNN's context per creation time (and step).
    decoder_mlp_dim_seq
        Hidden sizes of the MLP that makes the context.
    num_parallel_samples
        Joint sample paths per series at prediction.
    season_length, num_seasonal_lags, seasonal_loc, seasonal_loc_init
        With ``seasonal_loc`` (and ``num_seasonal_lags >= 1``) the joint map
        is shifted by a location per step and series: a learned linear
        combination of that step's seasonal lags (as in MQ-CNN,
        :func:`~gluonts_iqf.model.mqcnn.module.seasonal_lag_offsets`) times
        the scale, started at the lags' mean (``"mean"``, default) or the
        seasonal-naive value (``"last"``). A shift keeps the map
        the gradient of a convex potential (``G(z) + <loc, z>``), so the
        energy score, inversion and likelihood are unchanged in form.
    """

    def __init__(
        self,
        prediction_length: int,
        context_length: int,
        num_forking: int,
        target_dim: int,
        joint: str,
        convex_output: ConvexQuantileOutput,
        num_feat_dynamic_real: int,
        num_past_feat_dynamic_real: int = 0,
        num_feat_static_real: int = 0,
        cardinality: Sequence[int] = (),
        embedding_dimension: Sequence[int] = (),
        channels_seq: Sequence[int] = (30, 30, 30),
        dilation_seq: Sequence[int] = (1, 3, 9),
        kernel_size_seq: Sequence[int] = (7, 3, 3),
        context_dim: int = 32,
        decoder_mlp_dim_seq: Sequence[int] = (64,),
        num_parallel_samples: int = 100,
        season_length: int = 1,
        num_seasonal_lags: int = 0,
        seasonal_loc: bool = False,
        seasonal_loc_init: str = "mean",
    ) -> None:
        super().__init__()
        self.register_buffer(
            "lag_offsets",
            seasonal_lag_offsets(prediction_length, season_length, num_seasonal_lags),
            persistent=False,
        )
        self.lag_loc = (
            seasonal_naive_linear(num_seasonal_lags, seasonal_loc_init)
            if seasonal_loc and num_seasonal_lags else None
        )
        if joint not in JOINT:
            raise ValueError(f"joint must be one of {JOINT}, got {joint!r}")
        if joint == "horizon" and target_dim != 1:
            raise ValueError("joint='horizon' is for one series; use 'all' or 'step' for target_dim > 1")
        H, k = prediction_length, target_dim
        expected = {"horizon": H, "all": H * k, "step": k}[joint]
        if convex_output.dim != expected:
            raise ValueError(
                f"convex_output.dim must be {expected} for joint={joint!r}, "
                f"prediction_length={H}, target_dim={k}; got {convex_output.dim}"
            )
        if not 1 <= num_forking <= context_length:
            raise ValueError(f"num_forking must be in [1, {context_length}], got {num_forking}")
        self.prediction_length, self.context_length = H, context_length
        self.num_forking, self.target_dim, self.joint = num_forking, k, joint
        self.convex_output = convex_output
        self.num_feat_dynamic_real = num_feat_dynamic_real
        self.num_past_feat_dynamic_real = num_past_feat_dynamic_real
        self.num_feat_static_real = num_feat_static_real
        self.num_parallel_samples = num_parallel_samples
        self.embedder = static_embedder(cardinality, embedding_dimension)
        static_dim = sum(embedding_dimension) + num_feat_static_real
        self.scaler = CausalMeanScaler()
        # per series: scaled target, observed flag, log scale; then covariates
        enc_in = 3 * k + num_feat_dynamic_real + num_past_feat_dynamic_real + static_dim
        self.encoder = CausalConvEncoder(enc_in, channels_seq, dilation_seq, kernel_size_seq)
        enc_out = channels_seq[-1] + enc_in
        n = num_feat_dynamic_real
        if joint == "step":
            self.step_embedding = nn.Embedding(H, 8)
            ctx_in = enc_out + k + n + 8
        else:
            self.step_embedding = None
            ctx_in = enc_out + k + H * n
        self.context_net = mlp(ctx_in, decoder_mlp_dim_seq, context_dim)
        self.picnn = convex_output.make_picnn(context_dim)
        # data-dependent initialisation done (a buffer: saved with the weights)
        self.register_buffer("initialized", torch.tensor(False))

    # ------------------------------------------------------------------ #
    def _as_btk(self, x: Tensor) -> Tensor:
        """(B, T) or (B, T, k) -> (B, T, k)."""
        return x.unsqueeze(-1) if x.dim() == 2 else x

    def encode(
        self,
        past_target: Tensor,
        past_observed_values: Tensor,
        feat_dynamic_real: Tensor,
        past_feat_dynamic_real: Optional[Tensor] = None,
        static: Optional[Tensor] = None,
        first: int = 0,
    ):
        """Causal encoding of positions ``first .. C-1``.

        Shapes: past_target, past_observed_values (B, C) or (B, C, k);
        feat_dynamic_real (B, C + H, n_known); past_feat_dynamic_real
        (B, C, n_past) or None; static (B, n_static) or None. Returns enc
        (B, C - first, E) (the encoder's output and its inputs), scale
        (B, C, k) and whether each scale is informative (B, C, k); only the
        kept positions are evaluated (:meth:`CausalConvEncoder.positions`).
        """
        obs = self._as_btk(past_observed_values)
        y = self._as_btk(past_target) * obs
        C = y.shape[1]
        scaled, scale, informative = self.scaler(y, obs)
        inputs = [scaled, obs, torch.log(scale), feat_dynamic_real[:, :C]]
        if self.num_past_feat_dynamic_real:
            inputs.append(past_feat_dynamic_real)
        if static is not None:
            inputs.append(static.unsqueeze(1).expand(-1, C, -1))
        x = torch.cat(inputs, dim=-1)
        enc = self.encoder.positions(x, first)
        return torch.cat([enc, x[:, first:]], dim=-1), scale, informative

    def location(self, past_target: Tensor, past_observed_values: Tensor, scale: Tensor, start: int) -> Optional[Tensor]:
        """Seasonal location of creation times ``start + 1 .. start + F``.

        past_target, past_observed_values : (B, C) or (B, C, k); scale
        (B, F, k) -> (B, F, H, k) in data units, or None without
        ``seasonal_loc``.
        """
        if self.lag_loc is None:
            return None
        obs = self._as_btk(past_observed_values)
        y = self._as_btk(past_target) * obs
        B, C, k = y.shape
        F_, H = scale.shape[1], self.prediction_length
        lags = gather_seasonal_lags(
            y.transpose(1, 2).reshape(B * k, C),
            obs.transpose(1, 2).reshape(B * k, C),
            scale.transpose(1, 2).reshape(B * k, F_, 1),
            start,
            self.lag_offsets,
        )  # (B k, F, H, 2 J)
        base = self.lag_loc(lags).squeeze(-1).reshape(B, k, F_, H).permute(0, 2, 3, 1)
        return base * scale.unsqueeze(2)

    def contexts(self, enc: Tensor, log_scale: Tensor, covariates: Tensor) -> Tensor:
        """enc (B, F, E), log_scale (B, F, k), covariates (B, F, H, n) ->
        contexts (B, F, c) or, for ``joint="step"``, (B, F, H, c)."""
        B, F_, H, n = covariates.shape
        if self.joint == "step":
            steps = self.step_embedding.weight.expand(B, F_, -1, -1)
            inp = torch.cat(
                [enc.unsqueeze(2).expand(-1, -1, H, -1), log_scale.unsqueeze(2).expand(-1, -1, H, -1), covariates, steps],
                dim=-1,
            )
        else:
            inp = torch.cat([enc, log_scale, covariates.reshape(B, F_, H * n)], dim=-1)
        return self.context_net(inp)

    def _event(self, values: Tensor) -> Tensor:
        """Window values (B, F, H, k) -> events (B, F, d) or (B, F, H, k)."""
        if self.joint == "step":
            return values
        return values.reshape(*values.shape[:2], -1)  # step-major h * k + j

    def _event_scale(self, scale: Tensor) -> Tensor:
        """Per-series scales (B, F, k) -> broadcast to the event layout."""
        H = self.prediction_length
        if self.joint == "step":
            return scale.unsqueeze(2)  # (B, F, 1, k)
        return scale.unsqueeze(2).expand(-1, -1, H, -1).reshape(*scale.shape[:2], -1)

    def distribution(self, context: Tensor, scale: Tensor, loc: Optional[Tensor] = None) -> ConvexQuantileMap:
        return ConvexQuantileMap(self.picnn, context, loc=loc, scale=scale)

    # ------------------------------------------------------------------ #
    def forward(
        self,
        feat_static_cat: Tensor,
        feat_static_real: Tensor,
        past_target: Tensor,
        past_observed_values: Tensor,
        feat_dynamic_real: Tensor,
        past_feat_dynamic_real: Optional[Tensor] = None,
        num_samples: Optional[int] = None,
    ) -> Tensor:
        """Joint sample paths at the end of the window: (B, S, H) for one
        series, (B, S, H, target_dim) otherwise, in data units."""
        S = num_samples or self.num_parallel_samples
        C, H, k = self.context_length, self.prediction_length, self.target_dim
        enc, scale, _ = self.encode(
            past_target, past_observed_values, feat_dynamic_real, past_feat_dynamic_real,
            static_features(self.embedder, feat_static_cat, feat_static_real, self.num_feat_static_real), first=C - 1,
        )
        last_scale = scale[:, -1:]  # (B, 1, k)
        ctx = self.contexts(enc, torch.log(last_scale), feat_dynamic_real[:, C : C + H].unsqueeze(1))
        ctx = ctx.squeeze(1)  # (B, c) or (B, H, c)
        ev_scale = self._event_scale(last_scale).squeeze(1)
        loc = self.location(past_target, past_observed_values, last_scale, C - 1)
        ev_loc = None if loc is None else self._event(loc).squeeze(1)
        distr = self.distribution(ctx, ev_scale, ev_loc)
        with torch.no_grad():  # as Distribution.sample
            samples = distr.sample_paths(S)  # (B, S, d) or (B, H, S, k)
        B = samples.shape[0]
        if self.joint == "step":
            samples = samples.transpose(1, 2)  # (B, S, H, k)
        if k == 1:
            return samples.reshape(B, S, H)
        return samples.reshape(B, S, H, k)

    def loss(
        self,
        feat_static_cat: Tensor,
        feat_static_real: Tensor,
        past_target: Tensor,
        past_observed_values: Tensor,
        feat_dynamic_real: Tensor,
        future_target: Tensor,
        future_observed_values: Tensor,
        past_feat_dynamic_real: Optional[Tensor] = None,
    ) -> Tensor:
        """Forking loss (energy score or NLL in scaled units), shape (B,)."""
        C, H, F_ = self.context_length, self.prediction_length, self.num_forking
        enc, scale, count = self.encode(
            past_target, past_observed_values, feat_dynamic_real, past_feat_dynamic_real,
            static_features(self.embedder, feat_static_cat, feat_static_real, self.num_feat_static_real), first=C - F_,
        )
        cov = forking_windows(feat_dynamic_real, C - F_ + 1, F_, H)  # (B, F, H, n)
        fork_scale = scale[:, C - F_ :]  # (B, F, k)
        ctx = self.contexts(enc, torch.log(fork_scale), cov)
        target = forking_targets(self._as_btk(past_target), self._as_btk(future_target), F_)  # (B, F, H, k)
        observed = forking_targets(self._as_btk(past_observed_values), self._as_btk(future_observed_values), F_)
        loc = self.location(past_target, past_observed_values, fork_scale, C - F_)  # (B, F, H, k)
        if self.training and not bool(self.initialized):
            shifted = target if loc is None else target - loc.detach()
            z = self._event(shifted / fork_scale.unsqueeze(2))
            usable = (self._event(observed) > 0) & self._event(
                count[:, C - F_ :].unsqueeze(2).expand_as(target)
            )
            z = torch.where(usable, z, float("nan"))
            self.picnn.init_from_data(z.reshape(-1, z.shape[-1]).detach())
            self.initialized.fill_(True)
            broadcast_module(self.picnn)  # under DDP every rank initialised from its own batch
        values = self.convex_output.loss(
            self._event(target), self.picnn, ctx, loc=None if loc is None else self._event(loc),
            scale=self._event_scale(fork_scale),
            observed=self._event(observed),
        )  # (B, F) or (B, F, H)
        weights = count[:, C - F_ :].all(-1).to(values.dtype)  # (B, F)
        if self.joint == "step":
            step_w = observed.amax(-1)  # a step with any observed series
            return weighted_average(values.flatten(1), weights=(weights.unsqueeze(-1) * step_w).flatten(1), dim=1)
        has_obs = observed.flatten(2).amax(-1)
        return weighted_average(values, weights=weights * has_obs, dim=1)
