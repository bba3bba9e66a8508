"""Checkouts (attempts to pay for a hold) and orders (what was paid for)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, bindparam, func, insert, literal, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY

from dropline.domain.errors import Conflict
from dropline.domain.live.orders import FINAL_CHECKOUT, CheckoutStatus, OrderStatus
from dropline.store.base import Repository, after_cursor, by_age, insert_rows
from dropline.store.live.order_records import (
    CheckoutRecord,
    OrderLine,
    OrderRecord,
    checkout_record,
    order_record,
)
from dropline.store.live.tables import checkouts, drops, order_lines, order_numbers, orders

# Statements on the checkout path, built once: rebuilding them per call (and their cache
# keys) cost more CPU than running them on SQLite. Values go in as parameters.
# Rows come back in any order (SQLite does not promise RETURNING's order, and asking
# SQLAlchemy to sort them made it send one statement per row): matched by order id.
_NEXT_NUMBERS = insert(order_numbers).returning(order_numbers.c.order_id, order_numbers.c.number)
_CHECKOUT = select(checkouts).where(checkouts.c.id == bindparam("checkout_id"))
_CHECKOUT_LOCKED = _CHECKOUT.with_for_update()
_FOR_HOLDS = (
    select(checkouts)
    .where(checkouts.c.hold_id.in_(bindparam("hold_ids", expanding=True)))
    .order_by(checkouts.c.created_at)
)
# One statement for a batch's holds: unnest yields the (sorted) array in order, so the
# locks are taken in hold order.
_LOCK_HOLDS = text(
    "SELECT pg_advisory_xact_lock(hashtextextended(h, 0))"
    " FROM unnest(CAST(:hold_ids AS text[])) AS h"
)
_FINAL = [s.value for s in FINAL_CHECKOUT]
# Several claimed checkouts to succeeded, one parameter set each (see succeed_claimed).
_SUCCEED_MANY = (
    update(checkouts)
    .where(
        checkouts.c.id == bindparam("checkout_id"),
        checkouts.c.version == bindparam("expected"),
        # Literals: executemany takes no expanding IN parameter.
        checkouts.c.status.not_in([literal(s) for s in _FINAL]),
    )
    .values(
        status=CheckoutStatus.SUCCEEDED.value,
        updated_at=bindparam("now"),
        version=checkouts.c.version + 1,
        payment_id=bindparam("payment_id"),
        order_id=bindparam("order_id"),
    )
)
# The same on PostgreSQL (no reliable row count for a list of parameters): the claims
# as arrays joined with unnest, RETURNING the ids moved. One statement text for any
# batch, so it is compiled and prepared once (CASEs per checkout made a new statement,
# compiled and planned, for every batch).
_CLAIMS = (
    func.unnest(
        bindparam("checkout_ids", type_=ARRAY(String)),
        bindparam("versions", type_=ARRAY(Integer)),
        bindparam("payment_ids", type_=ARRAY(String)),
        bindparam("order_ids", type_=ARRAY(String)),
    )
    .table_valued("id", "version", "payment_id", "order_id")
    .render_derived(name="claim")
)
_SUCCEED_ARRAYS = (
    update(checkouts)
    .where(
        checkouts.c.id == _CLAIMS.c.id,
        checkouts.c.version == _CLAIMS.c.version,
        checkouts.c.status.not_in([literal(s) for s in _FINAL]),
    )
    .values(
        status=CheckoutStatus.SUCCEEDED.value,
        updated_at=bindparam("now"),
        version=checkouts.c.version + 1,
        payment_id=_CLAIMS.c.payment_id,
        order_id=_CLAIMS.c.order_id,
    )
    .returning(checkouts.c.id)
)
_CLAIM_CHECKOUT = (
    update(checkouts)
    .where(
        checkouts.c.id == bindparam("checkout_id"),
        checkouts.c.version == bindparam("expected"),
        checkouts.c.status.in_(bindparam("open", expanding=True)),
    )
    .values(
        status=CheckoutStatus.PROCESSING.value,
        updated_at=bindparam("now"),
        version=checkouts.c.version + 1,
    )
    .returning(*checkouts.c)
)


class OrderRepository(Repository):
    # ----------------------------------------------------------------- checkouts
    async def add_checkout(self, c: CheckoutRecord) -> None:
        await self.add_checkouts([c])

    async def add_checkouts(self, made: Sequence[CheckoutRecord]) -> None:
        """Insert new checkouts (one statement for all of them)."""
        if not made:
            return
        await insert_rows(
            self.conn,
            checkouts,
            [
                {
                    "id": c.id,
                    "hold_id": c.hold_id,
                    "drop_id": c.drop_id,
                    "buyer_id": c.buyer_id,
                    "status": c.status.value,
                    "amount": c.amount,
                    "currency": c.currency,
                    "provider": c.provider,
                    "payment_id": c.payment_id,
                    "payment_method": c.payment_method,
                    "decline_code": c.decline_code,
                    "failure_reason": c.failure_reason,
                    "order_id": c.order_id,
                    "items": c.items,
                    "units": c.units,
                    "attribution": c.attribution,
                    "created_at": c.created_at,
                    "updated_at": c.updated_at,
                    "version": c.version,
                }
                for c in made
            ],
        )

    async def get_checkout(self, checkout_id: str, *, lock: bool = False) -> CheckoutRecord | None:
        stmt = _CHECKOUT_LOCKED if lock and self.dialect == "postgresql" else _CHECKOUT
        row = (await self.conn.execute(stmt, {"checkout_id": checkout_id})).first()
        return checkout_record(row) if row else None

    async def checkouts_for_hold(self, hold_id: str, *, lock: bool = False) -> list[CheckoutRecord]:
        """The hold's checkouts, oldest first. ``lock``: until the transaction ends, no
        other ``lock``ed call for this hold gets past this point, so a check of these
        rows and the insert of a new checkout are atomic (SQLite has one writer
        anyway; on PostgreSQL a transaction-level advisory lock on the hold's id)."""
        return (await self.checkouts_for_holds([hold_id], lock=lock)).get(hold_id, [])

    async def checkouts_for_holds(
        self, hold_ids: Sequence[str], *, lock: bool = False
    ) -> dict[str, list[CheckoutRecord]]:
        """The checkouts of several holds in one read, oldest first (the holds with none are
        absent). ``lock`` takes the holds' locks in sorted order, so two batches that
        share holds wait for each other instead of deadlocking."""
        ids = sorted(set(hold_ids))
        if lock and self.dialect == "postgresql":
            await self.conn.execute(_LOCK_HOLDS, {"hold_ids": ids})
        found: dict[str, list[CheckoutRecord]] = {}
        for r in await self.conn.execute(_FOR_HOLDS, {"hold_ids": ids}):
            found.setdefault(r.hold_id, []).append(checkout_record(r))
        return found

    async def update_checkout(
        self, c: CheckoutRecord, status: CheckoutStatus, **values: Any
    ) -> CheckoutRecord:
        """Compare-and-set on the version: of two racing finishers only one wins."""
        row = (
            await self.conn.execute(
                update(checkouts)
                .where(checkouts.c.id == c.id, checkouts.c.version == c.version)
                .values(status=status.value, updated_at=self.now(), version=c.version + 1, **values)
                .returning(*checkouts.c)
            )
        ).first()
        if row is None:
            raise Conflict("the checkout changed concurrently", checkout_id=c.id)
        return checkout_record(row)

    async def succeed_claimed(
        self, claims: Sequence[tuple[CheckoutRecord, str, str]]
    ) -> list[CheckoutRecord] | None:
        """Compare-and-set that turns claimed checkouts into paid ones, in one statement:
        each (checkout as its finisher claimed it, payment id, order id) moves to
        ``succeeded`` (version + 1) if it is not final and still at its claimed version;
        on PostgreSQL its row stays locked until the transaction ends. The
        checkouts as now written, in order, when every one was still at its claimed
        version and not final; None when any claim was lost (the caller rolls back:
        some rows may have moved). Rows are locked in the order the database meets
        them, so two such writes sharing checkouts can deadlock: the database then
        refuses one, which only rolls its transaction back."""
        if not claims:
            return []
        now = self.now()
        if self.conn.dialect.supports_sane_multi_rowcount:  # SQLite: one prepared UPDATE
            params = [
                {
                    "checkout_id": ch.id,
                    "expected": ch.version,
                    "payment_id": p,
                    "order_id": o,
                    "now": now,
                }
                for ch, p, o in claims
            ]
            moved = (await self.conn.execute(_SUCCEED_MANY, params)).rowcount
        else:
            ids = {
                r.id
                for r in await self.conn.execute(
                    _SUCCEED_ARRAYS,
                    {
                        "checkout_ids": [ch.id for ch, _, _ in claims],
                        "versions": [ch.version for ch, _, _ in claims],
                        "payment_ids": [p for _, p, _ in claims],
                        "order_ids": [o for _, _, o in claims],
                        "now": now,
                    },
                )
            }
            moved = len(ids)
        if moved != len(claims):
            return None
        # Every claim held: each row is its claimed record with these changes.
        return [
            replace(
                ch,
                status=CheckoutStatus.SUCCEEDED,
                payment_id=p,
                order_id=o,
                updated_at=now,
                version=ch.version + 1,
            )
            for ch, p, o in claims
        ]

    async def claim_checkout(
        self, checkout_id: str, version: int, open_statuses: Collection[CheckoutStatus]
    ) -> CheckoutRecord | None:
        """Compare-and-set that makes the caller the checkout's one finisher: a checkout
        still at ``version`` in one of ``open_statuses`` becomes ``processing`` (version
        + 1, ``updated_at`` now: the claim's lease starts). None when another finisher
        changed it first; the claimed record otherwise."""
        row = (
            await self.conn.execute(
                _CLAIM_CHECKOUT,
                {
                    "checkout_id": checkout_id,
                    "expected": version,
                    "open": [s.value for s in open_statuses],
                    "now": self.now(),
                },
            )
        ).first()
        return checkout_record(row) if row is not None else None

    async def stale_checkouts(
        self, statuses: Sequence[CheckoutStatus], older_than: datetime, limit: int = 100
    ) -> list[CheckoutRecord]:
        stmt = (
            select(checkouts)
            .where(
                checkouts.c.status.in_([s.value for s in statuses]),
                checkouts.c.updated_at < older_than,
            )
            .order_by(checkouts.c.updated_at)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        return [checkout_record(r) for r in await self.conn.execute(stmt)]

    async def list_checkouts(self, drop_id: str, status: str | None = None) -> list[CheckoutRecord]:
        stmt = select(checkouts).where(checkouts.c.drop_id == drop_id)
        if status:
            stmt = stmt.where(checkouts.c.status == status)
        return [
            checkout_record(r)
            for r in await self.conn.execute(stmt.order_by(checkouts.c.created_at))
        ]

    # ----------------------------------------------------------------- orders
    async def next_order_numbers(self, order_ids: Sequence[str]) -> list[int]:
        """Numbers for new orders, in their order, from the database's own counter
        (identity or AUTOINCREMENT; one statement for all): never the same for two
        orders, on any number of processes, and taken without waiting for another
        transaction (a rollback leaves a gap)."""
        rows = await self.conn.execute(
            _NEXT_NUMBERS, [{"order_id": order_id} for order_id in order_ids]
        )
        numbers = {r.order_id: int(r.number) for r in rows}
        return [numbers[order_id] for order_id in order_ids]

    async def add_order(self, o: OrderRecord) -> None:
        await self.add_orders([o])

    async def add_orders(self, made: Sequence[OrderRecord]) -> None:
        """Insert orders and their lines: one (multi-row) insert per table."""
        if not made:
            return
        await insert_rows(
            self.conn,
            orders,
            [
                {
                    "id": o.id,
                    "drop_id": o.drop_id,
                    "buyer_id": o.buyer_id,
                    "hold_id": o.hold_id,
                    "checkout_id": o.checkout_id,
                    "status": o.status.value,
                    "status_reason": o.status_reason,
                    "currency": o.currency,
                    "total_amount": o.total_amount,
                    "refunded_amount": o.refunded_amount,
                    "provider": o.provider,
                    "payment_id": o.payment_id,
                    "attribution": o.attribution,
                    "paid_at": o.paid_at,
                    "created_at": o.created_at,
                    "updated_at": o.updated_at,
                    "version": o.version,
                    "number": o.number or None,
                }
                for o in made
            ],
        )
        await insert_rows(
            self.conn,
            order_lines,
            [
                {
                    "order_id": o.id,
                    "line_no": ln.line_no,
                    "kind": ln.kind,
                    "ref_id": ln.ref_id,
                    "description": ln.description,
                    "quantity": ln.quantity,
                    "unit_amount": ln.unit_amount,
                    "currency": ln.currency,
                    "line_amount": ln.line_amount,
                }
                for o in made
                for ln in o.lines
            ],
        )

    async def _lines(self, order_ids: Sequence[str]) -> dict[str, list[OrderLine]]:
        if not order_ids:
            return {}
        rows = await self.conn.execute(
            select(order_lines)
            .where(order_lines.c.order_id.in_(list(order_ids)))
            .order_by(order_lines.c.order_id, order_lines.c.line_no)
        )
        out: dict[str, list[OrderLine]] = {}
        for r in rows:
            out.setdefault(r.order_id, []).append(
                OrderLine(
                    r.line_no,
                    r.kind,
                    r.ref_id,
                    r.description,
                    r.quantity,
                    int(r.unit_amount),
                    r.currency,
                    int(r.line_amount),
                )
            )
        return out

    async def get_order(self, order_id: str) -> OrderRecord | None:
        row = (await self.conn.execute(select(orders).where(orders.c.id == order_id))).first()
        if row is None:
            return None
        return order_record(row, (await self._lines([order_id])).get(order_id, []))

    async def find_order(self, ref: str) -> OrderRecord | None:
        """The order with this id, or with this human number (``DL-1042``): for what a
        person or a warehouse typed. Use the returned order's ``id`` from then on."""
        if ref.startswith("ord_"):
            return await self.get_order(ref)
        row = (await self.conn.execute(select(orders.c.id).where(orders.c.number == ref))).first()
        return await self.get_order(row.id) if row else None

    async def list_orders(
        self,
        drop_id: str | None = None,
        buyer_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
        after: str | None = None,
        newest_first: bool = False,
        *,
        rehearsals: bool = False,
    ) -> list[OrderRecord]:
        """Oldest first, paged with ``after`` = the last id seen; or the ``limit``
        newest, newest first (``after`` is then ignored). Without ``drop_id`` the orders
        of dress rehearsals are left out, unless ``rehearsals``."""
        stmt = select(orders).order_by(*by_age(orders, newest_first)).limit(limit)
        if drop_id:
            stmt = stmt.where(orders.c.drop_id == drop_id)
        elif not rehearsals:  # a rehearsal's orders show when its drop is asked for
            rehearsal = select(drops.c.id).where(drops.c.rehearsal_of.is_not(None))
            stmt = stmt.where(orders.c.drop_id.not_in(rehearsal))
        if buyer_id:
            stmt = stmt.where(orders.c.buyer_id == buyer_id)
        if status:
            stmt = stmt.where(orders.c.status == status)
        if after and not newest_first:
            stmt = stmt.where(after_cursor(orders, after))
        rows = list(await self.conn.execute(stmt))
        lines = await self._lines([r.id for r in rows])
        return [order_record(r, lines.get(r.id, [])) for r in rows]

    async def set_order_status(
        self, o: OrderRecord, status: OrderStatus, reason: str = "", **values: Any
    ) -> None:
        result = await self.conn.execute(
            update(orders)
            .where(orders.c.id == o.id, orders.c.version == o.version)
            .values(
                status=status.value,
                status_reason=reason,
                updated_at=self.now(),
                version=o.version + 1,
                **values,
            )
        )
        if result.rowcount != 1:
            raise Conflict("the order changed concurrently", order_id=o.id)

    async def order_for_checkout(self, checkout_id: str) -> OrderRecord | None:
        row = (
            await self.conn.execute(select(orders).where(orders.c.checkout_id == checkout_id))
        ).first()
        return order_record(row) if row else None
