"""QC records: spec versions, golden samples, inspections, photos, switching state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, insert, select, update

from dropline.store.base import Repository
from dropline.store.supply.tables import (
    golden_samples,
    inspection_photos,
    inspections,
    qc_spec_versions,
    switching_states,
)


def _row(r: Any) -> dict[str, Any]:
    return dict(r._mapping)


class QcQueries(Repository):
    """Part of ``ProductionRepository``: the queries of this module."""

    # ----------------------------------------------------------------- QC specs
    async def spec_versions(self, spec_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(qc_spec_versions)
            .where(qc_spec_versions.c.spec_id == spec_id)
            .order_by(qc_spec_versions.c.version)
        )
        return [_row(r) for r in rows]

    async def spec_version(self, spec_id: str, version: int) -> dict[str, Any] | None:
        row = (
            await self.conn.execute(
                select(qc_spec_versions).where(
                    qc_spec_versions.c.spec_id == spec_id, qc_spec_versions.c.version == version
                )
            )
        ).first()
        return _row(row) if row else None

    async def add_spec_version(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(qc_spec_versions).values(**values, created_at=self.now()))

    async def freeze_spec_version(self, spec_id: str, version: int, by: str) -> None:
        await self.conn.execute(
            update(qc_spec_versions)
            .where(
                qc_spec_versions.c.spec_id == spec_id,
                qc_spec_versions.c.version == version,
                qc_spec_versions.c.frozen_at.is_(None),
            )
            .values(frozen_at=self.now(), frozen_by=by)
        )

    async def add_golden_sample(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(golden_samples).values(**values, registered_at=self.now()))

    async def golden_sample(self, sample_id: str) -> dict[str, Any] | None:
        row = (
            await self.conn.execute(select(golden_samples).where(golden_samples.c.id == sample_id))
        ).first()
        return _row(row) if row else None

    async def approve_golden_sample(self, sample_id: str, by: str, note: str) -> bool:
        result = await self.conn.execute(
            update(golden_samples)
            .where(golden_samples.c.id == sample_id, golden_samples.c.approved_at.is_(None))
            .values(approved_by=by, approved_at=self.now(), approval_note=note)
        )
        return result.rowcount == 1

    async def golden_samples(self, spec_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(golden_samples)
            .where(golden_samples.c.spec_id == spec_id)
            .order_by(golden_samples.c.registered_at)
        )
        return [_row(r) for r in rows]

    # ----------------------------------------------------------------- inspections
    async def add_inspection(self, values: Mapping[str, Any]) -> None:
        """Insert an inspection numbered ``attempt`` = 1 + earlier inspections of the lot
        (the caller holds the lot's lock), so a lot's history has a stable order."""
        count = (
            await self.conn.execute(
                select(func.count()).where(inspections.c.lot_id == values["lot_id"])
            )
        ).scalar_one()
        await self.conn.execute(
            insert(inspections).values(**values, attempt=int(count) + 1, created_at=self.now())
        )

    async def inspection(self, inspection_id: str) -> dict[str, Any] | None:
        row = (
            await self.conn.execute(select(inspections).where(inspections.c.id == inspection_id))
        ).first()
        return _row(row) if row else None

    async def inspections(self, lot_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(inspections)
            .where(inspections.c.lot_id == lot_id)
            .order_by(inspections.c.attempt)
        )
        return [_row(r) for r in rows]

    async def sign_off_inspection(self, inspection_id: str, approver: str) -> bool:
        result = await self.conn.execute(
            update(inspections)
            .where(inspections.c.id == inspection_id, inspections.c.signed_off_at.is_(None))
            .values(approver=approver, signed_off_at=self.now())
        )
        return result.rowcount == 1

    async def add_photo(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(inspection_photos).values(**values, created_at=self.now()))

    async def photos(self, inspection_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(inspection_photos)
            .where(inspection_photos.c.inspection_id == inspection_id)
            .order_by(inspection_photos.c.created_at, inspection_photos.c.id)
        )
        return [_row(r) for r in rows]

    async def switching_state(
        self, manufacturer_id: str, product_id: str, defect_class: str
    ) -> dict[str, Any] | None:
        row = (
            await self.conn.execute(
                select(switching_states.c.state).where(
                    switching_states.c.manufacturer_id == manufacturer_id,
                    switching_states.c.product_id == product_id,
                    switching_states.c.defect_class == defect_class,
                )
            )
        ).first()
        return dict(row[0]) if row else None

    async def save_switching_state(
        self, manufacturer_id: str, product_id: str, defect_class: str, state: Mapping[str, Any]
    ) -> None:
        key = (
            switching_states.c.manufacturer_id == manufacturer_id,
            switching_states.c.product_id == product_id,
            switching_states.c.defect_class == defect_class,
        )
        result = await self.conn.execute(
            update(switching_states).where(*key).values(state=dict(state), updated_at=self.now())
        )
        if result.rowcount == 0:
            await self.conn.execute(
                insert(switching_states).values(
                    manufacturer_id=manufacturer_id,
                    product_id=product_id,
                    defect_class=defect_class,
                    state=dict(state),
                    updated_at=self.now(),
                )
            )
