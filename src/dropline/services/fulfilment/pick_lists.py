"""Pick lists and packing slips for a drop's unshipped orders, by bin, as data, CSV or
printable HTML. Bundles are expanded into the SKUs to pick."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from dropline.domain.catalog.items import Bundle, Sku
from dropline.domain.errors import InvalidInput, NotFound
from dropline.domain.fulfilment.rules import UNSHIPPED
from dropline.domain.live.drops import Drop
from dropline.services.fulfilment.messages import address_lines, format_time
from dropline.services.ports import Clock
from dropline.services.rendering import render
from dropline.services.serialize import rfc3339
from dropline.services.stock.bins import pick_plan, picks
from dropline.store.live.order_records import OrderRecord
from dropline.store.uow import UnitOfWork, UowFactory

Row = dict[str, Any]


class KnownRows(Protocol):
    """Rows a caller already has for its orders' drop (checkout's ``DropCatalog``)."""

    @property
    def drop(self) -> Drop: ...

    @property
    def skus(self) -> Mapping[str, Sku]: ...

    @property
    def bundles(self) -> Mapping[str, Bundle]: ...


async def pick_lines(
    uow: UnitOfWork,
    orders: Iterable[OrderRecord],
    known: KnownRows | None = None,
    *,
    each_alone: bool = False,
) -> list[Row]:
    """Order lines as SKUs to pick, bundles expanded into their components; the
    warehouse hand-off sends the same lines.

    Each line says which bin to pick from: the bin its SKU is staged in for the drop,
    then the other bins holding it by code (``services/stock/bins.pick_plan``), units
    shared out oldest order first; a line split over two bins becomes two rows. Units
    in no bin fall back to the SKU's free-text ``bin_location`` (``bin_id`` None).

    ``known``: SKU and bundle rows the caller already has (checkout passes its catalog
    snapshot, which priced and described the lines), not read again; any missing is.
    ``each_alone``: every order's lines as if it were the only one (the hand-off of
    orders paid together, each told what it would be told paid alone)."""
    orders = list(orders)
    bundle_ids = sorted({ln.ref_id for o in orders for ln in o.lines if ln.kind == "bundle"})
    have_b: Mapping[str, Bundle] = known.bundles if known else {}
    bundles = {b: have_b[b] for b in bundle_ids if b in have_b}
    if missing_bundles := [b for b in bundle_ids if b not in bundles]:
        bundles |= await uow.catalog.get_bundles(missing_bundles)
    sku_ids = {ln.ref_id for o in orders for ln in o.lines if ln.kind != "bundle"}
    for b in bundles.values():
        sku_ids.update(c.sku_id for c in b.components)
    have_s: Mapping[str, Sku] = known.skus if known else {}
    skus = {s: have_s[s] for s in sku_ids if s in have_s}
    if missing_skus := sku_ids - skus.keys():
        skus |= await uow.catalog.get_skus(missing_skus)
    plans = {d: await pick_plan(uow, d, sku_ids) for d in sorted({o.drop_id for o in orders})}
    names = await uow.bins.get_many(
        {b for plan in plans.values() for per in plan.values() for b, _ in per}
    )
    taken: dict[str, dict[tuple[str, str], int]] = {d: {} for d in plans}
    out: list[Row] = []
    for o in orders:
        if each_alone:
            taken = {d: {} for d in plans}
        for ln in o.lines:
            if ln.kind == "bundle":
                parts = [
                    (c.sku_id, c.quantity * ln.quantity, f"{ln.description}: ")
                    for c in bundles[ln.ref_id].components
                ]
            else:
                parts = [(ln.ref_id, ln.quantity, "")]
            for sku_id, qty, prefix in parts:
                sku = skus[sku_id]
                for bin_id, units in picks(plans[o.drop_id], taken[o.drop_id], sku_id, qty):
                    out.append(
                        {
                            "order_id": o.id,
                            "order_line": ln.line_no,
                            "sku_id": sku_id,
                            "sku_code": sku.code,
                            "bin_id": bin_id,
                            "bin_location": names[bin_id].code if bin_id else sku.bin_location,
                            "description": prefix + (sku.label() if prefix else ln.description),
                            "quantity": units,
                        }
                    )
    return out


async def test_flag(uow: UnitOfWork, drop_id: str, drop: Drop | None) -> dict[str, Any]:
    """``{"test": true, "rehearsal_of": ...}`` for an event of a dress rehearsal's order
    (its warehouse must not ship it), else nothing. ``drop``: read unless given."""
    if drop is None or drop.id != drop_id:
        drop = await uow.drops.get(drop_id)
    if drop is None or drop.rehearsal_of is None:
        return {}
    return {"test": True, "rehearsal_of": drop.rehearsal_of}


async def open_orders(uow: UnitOfWork, drop_id: str) -> list[OrderRecord]:
    """A drop's paid, unshipped orders, oldest payment first."""
    out: list[OrderRecord] = []
    for status in UNSHIPPED:
        out += await uow.orders.list_orders(drop_id, status=status.value, limit=100_000)
    return sorted(out, key=lambda o: (o.paid_at, o.id))


class PickListService:
    """Reads only: what the warehouse picks and packs for open orders."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    async def pick_list(self, drop_id: str) -> dict[str, Any]:
        """Units to pick for a drop's unshipped orders, grouped by bin then SKU."""
        async with self.uow(readonly=True) as uow:
            drop = await uow.drops.get(drop_id)
            if drop is None:
                raise NotFound(f"drop {drop_id} not found")
            orders = await open_orders(uow, drop_id)
            lines = await pick_lines(uow, orders)
        grouped: dict[tuple[str, str], Row] = {}
        for ln in lines:
            key = (ln["bin_location"], ln["sku_code"])
            row = grouped.setdefault(
                key,
                {
                    "bin_location": ln["bin_location"],
                    "sku_code": ln["sku_code"],
                    "sku_id": ln["sku_id"],
                    "description": ln["description"].split(": ")[-1],
                    "quantity": 0,
                    "orders": set(),
                },
            )
            row["quantity"] += ln["quantity"]
            row["orders"].add(ln["order_id"])
        rows = []
        for key in sorted(grouped):
            row = grouped[key]
            row["order_count"] = len(row.pop("orders"))
            rows.append(row)
        bins: list[Row] = []
        for row in rows:
            if not bins or bins[-1]["bin"] != row["bin_location"]:
                bins.append({"bin": row["bin_location"], "rows": []})
            bins[-1]["rows"].append(row)
        return {
            "drop": {"id": drop.id, "name": drop.name},
            "generated_at": rfc3339(self._now()),
            "order_count": len(orders),
            "unit_count": sum(r["quantity"] for r in rows),
            "rows": rows,
            "bins": bins,
        }

    async def packing_slips(
        self, *, drop_id: str | None = None, order_id: str | None = None
    ) -> list[Row]:
        """One slip per unshipped order of a drop (or one given order)."""
        async with self.uow(readonly=True) as uow:
            if order_id:
                order = await uow.orders.get_order(order_id)
                if order is None:
                    raise NotFound(f"order {order_id} not found")
                orders = [order]
            elif drop_id:
                if await uow.drops.get(drop_id) is None:
                    raise NotFound(f"drop {drop_id} not found")
                orders = await open_orders(uow, drop_id)
            else:
                raise InvalidInput("give a drop_id or an order_id")
            lines = await pick_lines(uow, orders)
            ships = await uow.shipments.for_orders([o.id for o in orders])
        slips = []
        for o in orders:
            ship = ships.get(o.id)
            rows = sorted(
                (ln for ln in lines if ln["order_id"] == o.id),
                key=lambda r: (r["bin_location"], r["sku_code"]),
            )
            slips.append(
                {
                    "order_id": o.id,
                    "status": o.status.value,
                    "address_lines": address_lines(ship) or ["(no address on file)"],
                    "service_level": (ship or {}).get("service_level", "standard"),
                    "ship_by": format_time((ship or {}).get("ship_by")),
                    "rows": rows,
                }
            )
        return slips


def render_pick_list_csv(pick: Mapping[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["bin_location", "sku_code", "description", "quantity", "order_count"])
    for r in pick["rows"]:
        w.writerow(
            [r["bin_location"], r["sku_code"], r["description"], r["quantity"], r["order_count"]]
        )
    return buf.getvalue()


def render_pick_list_html(pick: Mapping[str, Any]) -> str:
    return render("pick_list.html", **pick)


def render_packing_slips_csv(slips: list[Row]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "order_id",
            "ship_to",
            "service_level",
            "ship_by",
            "bin_location",
            "sku_code",
            "description",
            "quantity",
        ]
    )
    for s in slips:
        for r in s["rows"]:
            w.writerow(
                [
                    s["order_id"],
                    " / ".join(s["address_lines"]),
                    s["service_level"],
                    s["ship_by"],
                    r["bin_location"],
                    r["sku_code"],
                    r["description"],
                    r["quantity"],
                ]
            )
    return buf.getvalue()


def render_packing_slips_html(slips: list[Row]) -> str:
    return render("packing_slips.html", slips=slips)
