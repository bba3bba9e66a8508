"""Bins: create them, put units away and move them between bins (``bin_move``
movements in the ledger), stage a drop's variants, print labels, and say which bins a
picker takes a SKU from.

Where units are is part of the ledger (``Movement.from_bin``/``to_bin``), so every
change here is a ledger row with who and why, and ``verify`` can replay it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dropline.domain.errors import Conflict, InvalidInput, NotFound
from dropline.domain.ids import new_id
from dropline.domain.stock.bins import Bin, BinStock, allocate_picks, pick_order, split_leaving
from dropline.domain.stock.buckets import MAX_QUANTITY, Movement, Reason
from dropline.services.rendering import render
from dropline.store.uow import UnitOfWork, UowFactory

Row = dict[str, Any]


def bin_view(b: Bin, contents: Mapping[str, int] | None = None) -> Row:
    out: Row = {"id": b.id, "code": b.code, "zone": b.zone, "label": b.label}
    if contents is not None:
        out["skus"] = dict(sorted(contents.items()))
        out["units"] = sum(contents.values())
    return out


async def find_bin(uow: UnitOfWork, ref: str) -> Bin:
    """A bin by id (``bin_...``) or by code; ``NotFound`` otherwise."""
    found = await uow.bins.get(ref) if ref.startswith("bin_") else None
    found = found or await uow.bins.by_code(ref.strip().upper())
    if found is None:
        raise NotFound(f"bin {ref} not found", bin=ref)
    return found


async def pick_plan(
    uow: UnitOfWork, drop_id: str | None, sku_ids: Iterable[str]
) -> dict[str, list[tuple[str, int]]]:
    """SKU → the bins to pick it from, in order, with their units now: the bin it is
    staged in for ``drop_id`` first, then every other bin holding it by code."""
    ids = sorted(set(sku_ids))
    held = await uow.stock.bins_of(ids)
    # Staging only orders bins that hold units: with none held there is nothing to order.
    staged = await uow.bins.staging(drop_id) if drop_id and held else {}
    names = await uow.bins.get_many({b for per in held.values() for b in per})
    codes = {b.id: b.code for b in names.values()}
    out: dict[str, list[tuple[str, int]]] = {}
    for sku_id in ids:
        per = held.get(sku_id, {})
        order = pick_order(staged.get(sku_id), [(b, codes.get(b, b)) for b in per])
        out[sku_id] = [(b, per.get(b, 0)) for b in order if per.get(b, 0) > 0]
    return out


async def from_picked_bins(
    uow: UnitOfWork, drop_id: str, movements: Sequence[Movement]
) -> list[Movement]:
    """Units shipping (leaving without a bin) as the movements that take them from the
    bins a picker was sent to (``pick_plan``), then from the unplaced ones. Locks the
    SKUs' levels first, so the bins read are the bins written."""
    leaving = [m for m in movements if m.leaves and m.from_bin is None]
    if not leaving:
        return list(movements)
    levels = await uow.stock.lock(m.sku_id for m in leaving)
    plan = await pick_plan(uow, drop_id, levels)
    held = await uow.stock.bins_of(levels)
    stock = {s: BinStock(s, lv.on_hand, held.get(s, {})) for s, lv in levels.items()}
    out: list[Movement] = []
    for m in movements:
        if not (m.leaves and m.from_bin is None):
            out.append(m)
            continue
        order = [b for b, _ in plan.get(m.sku_id, [])]
        for part in split_leaving(m, stock[m.sku_id], order, bins_first=True):
            stock[m.sku_id] = stock[m.sku_id].apply(part)
            out.append(part)
    return out


def picks(
    plan: Mapping[str, list[tuple[str, int]]],
    taken: dict[tuple[str, str], int],
    sku_id: str,
    qty: int,
) -> list[tuple[str | None, int]]:
    """Where ``qty`` more units of ``sku_id`` are picked, given what earlier lines of the
    same list took (``taken``, updated)."""
    left = [(b, units - taken.get((sku_id, b), 0)) for b, units in plan.get(sku_id, [])]
    out = allocate_picks(qty, [(b, u) for b, u in left if u > 0])
    for b, q in out:
        if b is not None:
            taken[(sku_id, b)] = taken.get((sku_id, b), 0) + q
    return out


def _check_qty(qty: int) -> None:
    if qty < 1 or qty > MAX_QUANTITY:
        raise InvalidInput("quantity must be between 1 and 10,000,000")


def _check_who(actor: str, note: str) -> None:
    if not actor.strip() or not note.strip():
        raise InvalidInput("moving units needs who did it and why")


@dataclass(frozen=True)
class Placement:
    """Where one SKU's units are: per bin (by code) and unplaced."""

    sku_id: str
    on_hand: int
    bins: dict[str, int]
    unplaced: int


class BinService:
    def __init__(self, uow: UowFactory) -> None:
        self.uow = uow

    # ------------------------------------------------------------------ bins
    async def create(self, code: str, zone: str = "", label: str = "") -> Bin:
        """A new bin; ``Conflict`` when its code is taken."""
        code, zone, label = Bin.check(code, zone, label)
        b = Bin(new_id("bin"), code, zone, label)
        async with self.uow() as uow:
            if await uow.bins.by_code(code) is not None:
                raise Conflict(f"bin {code} exists already", code=code)
            await uow.bins.add(b)
            uow.audit("bin.created", "bin", b.id, after=bin_view(b))
            await uow.commit()
        return b

    async def get(self, ref: str) -> Row:
        async with self.uow(readonly=True) as uow:
            b = await find_bin(uow, ref)
            contents = (await uow.stock.in_bins([b.id])).get(b.id, {})
        return bin_view(b, contents)

    async def list_bins(self, zone: str | None = None) -> list[Row]:
        async with self.uow(readonly=True) as uow:
            found = await uow.bins.list_bins(zone)
            contents = await uow.stock.in_bins(b.id for b in found)
        return [bin_view(b, contents.get(b.id, {})) for b in found]

    async def placement(self, sku_id: str) -> Placement:
        """Where a SKU's units on hand are."""
        async with self.uow(readonly=True) as uow:
            levels = await uow.stock.levels([sku_id])
            if sku_id not in levels:
                raise NotFound(f"SKU {sku_id} not found", sku_id=sku_id)
            held = (await uow.stock.bins_of([sku_id])).get(sku_id, {})
            names = await uow.bins.get_many(held)
        stock = BinStock(sku_id, levels[sku_id].on_hand, held)
        return Placement(
            sku_id,
            stock.on_hand,
            {names[b].code: q for b, q in sorted(held.items())},
            stock.unplaced,
        )

    # ------------------------------------------------------------------ moving units
    async def move(
        self,
        sku_id: str,
        quantity: int,
        *,
        from_bin: str | None,
        to_bin: str | None,
        actor: str,
        note: str,
    ) -> Placement:
        """Move units of a SKU into a bin (``from_bin`` None: put away unplaced units),
        between bins, or out of one (``to_bin`` None): one ``bin_move`` movement with
        who and why. Buckets do not change. ``InsufficientStock`` when the source has
        fewer units."""
        _check_qty(quantity)
        _check_who(actor, note)
        if from_bin is None and to_bin is None:
            raise InvalidInput("give the bin the units come from, go to, or both")
        async with self.uow() as uow:
            if await uow.catalog.get_sku(sku_id) is None:
                raise NotFound(f"SKU {sku_id} not found", sku_id=sku_id)
            src = await find_bin(uow, from_bin) if from_bin else None
            dst = await find_bin(uow, to_bin) if to_bin else None
            if src is not None and dst is not None and src.id == dst.id:
                raise InvalidInput("the units are in that bin already")
            mv = Movement(
                sku_id,
                quantity,
                None,
                None,
                Reason.BIN_MOVE,
                "",
                actor.strip()[:120],
                note.strip(),
                src.id if src else None,
                dst.id if dst else None,
            )
            await uow.stock.apply([mv])
            uow.audit(
                "stock.bin_moved",
                "sku",
                sku_id,
                after={
                    "quantity": quantity,
                    "from_bin": src.code if src else None,
                    "to_bin": dst.code if dst else None,
                    "note": mv.note,
                },
            )
            await uow.commit()
        return await self.placement(sku_id)

    # ------------------------------------------------------------------ staging
    async def stage(self, drop_id: str, sku_id: str, bin_ref: str, actor: str) -> Row:
        """Plan that a drop's SKU is staged in a bin (replacing an earlier plan)."""
        async with self.uow() as uow:
            drop = await uow.drops.get(drop_id)
            if drop is None:
                raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
            if await uow.catalog.get_sku(sku_id) is None:
                raise NotFound(f"SKU {sku_id} not found", sku_id=sku_id)
            b = await find_bin(uow, bin_ref)
            before = (await uow.bins.staging(drop_id)).get(sku_id)
            await uow.bins.stage(drop_id, sku_id, b.id, actor[:120])
            uow.audit(
                "drop.staged",
                "drop",
                drop_id,
                before={"sku_id": sku_id, "bin_id": before},
                after={"sku_id": sku_id, "bin_id": b.id},
            )
            await uow.commit()
        return {"drop_id": drop_id, "sku_id": sku_id, "bin": bin_view(b)}

    async def unstage(self, drop_id: str, sku_id: str) -> None:
        async with self.uow() as uow:
            if not await uow.bins.unstage(drop_id, sku_id):
                raise NotFound(f"SKU {sku_id} is not staged for drop {drop_id}")
            uow.audit("drop.unstaged", "drop", drop_id, after={"sku_id": sku_id})
            await uow.commit()

    async def staging_plan(self, drop_id: str) -> dict[str, Any]:
        """Each SKU the drop offers (from stock, not pre-order) and where it is staged:
        the bin, the units the bin holds of it, and whether they cover the offer."""
        async with self.uow(readonly=True) as uow:
            drop = await uow.drops.get(drop_id)
            if drop is None:
                raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
            offers = await uow.drops.offers(drop_id)
            pre = {p.sku_id for p in await uow.production.preorder_offers(drop_id)}
            staged = await uow.bins.staging(drop_id)
            sku_ids = sorted(set(offers) - pre | set(staged))
            skus = await uow.catalog.get_skus(sku_ids)
            held = await uow.stock.bins_of(sku_ids)
            names = await uow.bins.get_many(staged.values())
        rows = []
        for sku_id in sku_ids:
            offer = offers.get(sku_id)
            bin_id = staged.get(sku_id)
            in_bin = held.get(sku_id, {}).get(bin_id, 0) if bin_id else 0
            unsold = offer.unsold if offer else 0
            rows.append(
                {
                    "sku_id": sku_id,
                    "sku_code": skus[sku_id].code if sku_id in skus else sku_id,
                    "label": skus[sku_id].label() if sku_id in skus else sku_id,
                    "offered": offer.offered if offer else 0,
                    "unsold": unsold,
                    "bin": bin_view(names[bin_id]) if bin_id and bin_id in names else None,
                    "units_in_bin": in_bin,
                    "covers_offer": bin_id is not None and in_bin >= unsold,
                }
            )
        return {"drop": {"id": drop.id, "name": drop.name}, "rows": rows}

    # ------------------------------------------------------------------ labels, checks
    async def labels_html(self, refs: Sequence[str] = (), zone: str | None = None) -> str:
        """Printable labels (one per bin: code large, zone, label, what it holds), for
        the given bins or every bin (of a zone)."""
        async with self.uow(readonly=True) as uow:
            if refs:
                found = [await find_bin(uow, r) for r in refs]
            else:
                found = await uow.bins.list_bins(zone)
            contents = await uow.stock.in_bins(b.id for b in found)
            skus = await uow.catalog.get_skus({s for c in contents.values() for s in c})
        labels = [
            {
                **bin_view(b),
                "holds": [
                    {
                        "code": skus[s].code if s in skus else s,
                        "label": skus[s].label() if s in skus else s,
                    }
                    for s, q in sorted(contents.get(b.id, {}).items())
                ],
            }
            for b in found
        ]
        return render("bin_labels.html", labels=labels)

    async def verify(self) -> list[Row]:
        """Every SKU whose units per bin differ from what the ledger's bin columns say;
        empty when they agree."""
        async with self.uow(readonly=True) as uow:
            stored = await uow.stock.bins_of()
            ledger = await uow.stock.ledger_bins()
        return [
            {"sku_id": s, "stored": stored.get(s, {}), "ledger": ledger.get(s, {})}
            for s in sorted(set(stored) | set(ledger))
            if stored.get(s, {}) != ledger.get(s, {})
        ]
