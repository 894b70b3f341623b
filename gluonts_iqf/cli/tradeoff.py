"""``gluonts-iqf tradeoff``: the service level vs stock table
(:func:`gluonts_iqf.decision.service_level_tradeoff`) of one series,
forecast by a saved predictor."""

from __future__ import annotations

from ..levels import check_levels
from .errors import EXIT_OK, CLIError
from .forecast import load_predictor, load_user_series
from .runtime import configure_threads, console, quiet_libraries
from .staging import check_output_file, write_frame_atomic


def cmd_tradeoff(args) -> int:
    """Print the table of ``--item``; the full table also goes to
    ``--output`` (CSV, columns ``<quantity>|<step or total>``)."""
    from ..datasets.base import listing
    from ..decision import service_level_tradeoff

    try:  # a 'start:stop[:step]' range or an increasing comma list
        levels = check_levels(args.levels, name="--levels")
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    out = check_output_file(args.output, args.overwrite, (".csv",))
    quiet_libraries()
    configure_threads(args.threads)
    predictor, info = load_predictor(args.predictor, "cpu")
    H = predictor.prediction_length
    if args.lead_time is not None and args.lead_time > H:
        raise CLIError(f"--lead-time {args.lead_time} exceeds the predictor's horizon {H}")
    entries = load_user_series(args, info, H)
    chosen = [e for e in entries if e["item_id"] == str(args.item)]
    if not chosen:
        raise CLIError(
            f"unknown item {args.item!r} in {args.input}; items: "
            f"{listing([e['item_id'] for e in entries])}"
        )
    forecast = next(iter(predictor.predict(chosen)))
    try:
        table = service_level_tradeoff(forecast, levels=levels, lead_time=args.lead_time)
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    _print_tradeoff(console(), table, str(args.item))
    if out is not None:
        flat = table.copy()
        flat.columns = [f"{q}|{t}" for q, t in flat.columns]
        write_frame_atomic(flat.reset_index(), out)
    return EXIT_OK


def _print_tradeoff(out, table, item: str) -> None:
    """The table as rich text: stock at step 1, then per total (comonotone,
    independent) the stock, the extra stock and the stock per point."""
    from rich.table import Table

    L = table.attrs["lead_time"]
    steps = table.attrs["steps"]
    totals = [t for t in table["stock"].columns if str(t).startswith("total_")]
    first = steps[0]
    rt = Table(
        title=(f"item {item}: stock per service level, lead time {L} "
               f"step{'s' if L > 1 else ''} ({steps[0]} .. {steps[-1]})"),
        title_justify="left",
        caption=("stock = quantile of demand; extra = more stock than the previous row; "
                 "per pp = stock per percentage point of service level. comonotone total: "
                 "steps perfectly dependent (upper bound); independent: steps independent"),
        caption_justify="left",
    )
    rt.add_column("service level", justify="right")
    rt.add_column(f"stock step 1\n({first})", justify="right")
    for t in totals:
        kind = t.replace("total_", "")
        rt.add_column(f"total stock\n({kind})", justify="right")
        rt.add_column("extra", justify="right")
        rt.add_column("per pp", justify="right")

    def fmt(x: float) -> str:
        return "" if x != x else f"{x:,.2f}"

    for level, row in table.iterrows():
        cells = [f"{level:.4g}", fmt(row[("stock", first)])]
        for t in totals:
            cells += [fmt(row[("stock", t)]), fmt(row[("extra_stock", t)]), fmt(row[("stock_per_pp", t)])]
        rt.add_row(*cells)
    out.print(rt)
    approx = table.attrs.get("approximate") or []
    if approx:
        out.print(f"[dim]numerical approximations: {', '.join('/'.join(c) for c in approx)}[/dim]")
