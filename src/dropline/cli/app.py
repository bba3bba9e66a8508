"""The root of the command line: the ``dropline`` Typer app and every group on it.

This is the only module that knows all the groups; each group lives in its own module
under its capability and imports only ``cli/console.py``."""

from __future__ import annotations

import logging

import typer

from dropline.cli.aftersales import orders, returns
from dropline.cli.catalog import bundles, products, skus
from dropline.cli.console import TextArgs
from dropline.cli.fulfilment import tracking, webhooks
from dropline.cli.insight import cues, lessons, report
from dropline.cli.live import access, drops, simulate, waitlist
from dropline.cli.planning import launches
from dropline.cli.platform import db, demo, keys, server
from dropline.cli.readiness import ready, rehearse
from dropline.cli.stock import bins, counts, levels
from dropline.cli.supply import preorders, qc, quality, runs, scorecards

app = typer.Typer(
    help="dropline runs a creator's live drop from the stream to the shipment.\n\n"
    "Settings come from DROPLINE_* environment variables (see docs/deploy.md); the "
    "default is a SQLite file ./dropline.db, the in-process engine and sandbox payments.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    cls=TextArgs,  # every argument is storable text
)
app.add_typer(products.products_app, name="products")
app.add_typer(skus.skus_app, name="skus")
app.add_typer(bundles.bundles_app, name="bundles")
app.add_typer(levels.stock_app, name="stock")
drops.drops_app.command("restock")(waitlist.restock)
drops.drops_app.command("restocks")(waitlist.restocks)
drops.drops_app.command("restock-cancel")(waitlist.restock_cancel)
app.add_typer(drops.drops_app, name="drops")
drops.drops_app.add_typer(access.windows_app, name="windows")
drops.drops_app.command("limits")(access.limits)
app.add_typer(waitlist.waitlist_app, name="waitlist")
app.add_typer(db.db_app, name="db")
app.add_typer(keys.keys_app, name="keys")
app.command()(demo.demo)
app.command()(server.serve)
app.command()(server.worker)
app.command("buyer-token")(keys.buyer_token)
app.command()(report.report)
app.command()(lessons.lessons)
app.add_typer(cues.cues_app, name="cues")
app.command()(simulate.simulate)
drops.drops_app.command("ready")(ready.ready)
app.command("ready", help="The same as `dropline drops ready` (kept as an alias).")(ready.ready)
app.command()(rehearse.rehearse)
app.add_typer(runs.runs_app, name="runs")
app.add_typer(qc.qc_app, name="qc")
app.add_typer(quality.quality_app, name="quality")
app.add_typer(scorecards.suppliers_app, name="suppliers")
app.add_typer(preorders.preorders_app, name="preorders")
app.add_typer(orders.orders_app, name="orders")
app.add_typer(returns.returns_app, name="returns")
app.add_typer(webhooks.webhooks_app, name="webhooks")
app.add_typer(tracking.tracking_app, name="tracking")
app.add_typer(bins.bins_app, name="bins")
app.add_typer(counts.counts_app, name="counts")
app.add_typer(launches.launches_app, name="launches")


def main() -> None:
    """The ``dropline`` console script."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()
