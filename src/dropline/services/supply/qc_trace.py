"""Quality control evidence and traceability: inspection photos, and the trail from a
lot to its run, manufacturer, inspections and the orders that received its units (and
back from an order to its lots).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from dropline.domain.errors import InvalidInput, NotFound
from dropline.domain.ids import new_id
from dropline.domain.supply.aql import DefectClass
from dropline.domain.supply.production import parse_enum
from dropline.store.uow import UowFactory

MAX_PHOTO_BYTES = 10 * 1024 * 1024
PHOTO_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


class QcTraceService:
    def __init__(self, uow: UowFactory, data_dir: str) -> None:
        self.uow = uow
        self.data_dir = Path(data_dir)

    # ------------------------------------------------------------------ photos
    async def add_photo(
        self,
        inspection_id: str,
        data: bytes,
        content_type: str,
        *,
        filename: str = "",
        defect_class: str | None = None,
        note: str = "",
    ) -> dict[str, Any]:
        """Store an inspection photo under ``<data_dir>/inspections/<id>/``."""
        content_type = content_type.split(";")[0].strip().lower()
        if content_type not in PHOTO_TYPES:
            raise InvalidInput(f"photos must be one of {', '.join(PHOTO_TYPES)}")
        if not data or len(data) > MAX_PHOTO_BYTES:
            raise InvalidInput("a photo must be between 1 byte and 10 MiB")
        if defect_class is not None:
            defect_class = parse_enum(DefectClass, defect_class, "defect_class").value
        photo_id = new_id("pho")
        ext = PHOTO_TYPES[content_type] or mimetypes.guess_extension(content_type) or ""
        async with self.uow() as uow:
            if await uow.production.inspection(inspection_id) is None:
                raise NotFound(f"inspection {inspection_id} not found")
            rel = Path("inspections") / inspection_id / f"{photo_id}{ext}"
            path = self.data_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            await uow.production.add_photo(
                {
                    "id": photo_id,
                    "inspection_id": inspection_id,
                    "defect_class": defect_class,
                    "filename": Path(filename).name[:200] or path.name,
                    "path": str(rel),
                    "content_type": content_type,
                    "size": len(data),
                    "note": note[:2000],
                }
            )
            await uow.commit()
        return {"id": photo_id, "path": str(rel), "size": len(data), "content_type": content_type}

    def photo_path(self, rel: str) -> Path:
        return self.data_dir / rel

    # ------------------------------------------------------------------ traceability
    async def trace_lot(self, lot_id: str) -> dict[str, Any]:
        """Lot → run → manufacturer, its inspections, and every order that received
        its units."""
        async with self.uow(readonly=True) as uow:
            lot = await uow.production.lot(lot_id)
            if lot is None:
                raise NotFound(f"lot {lot_id} not found")
            run = await uow.production.run(lot["run_id"])
            assert run is not None
            mfr = await uow.production.manufacturer(run["manufacturer_id"])
            inspections = await uow.production.inspections(lot_id)
            photos = {i["id"]: await uow.production.photos(i["id"]) for i in inspections}
            allocations = await uow.production.allocations(lot_id=lot_id)
        return {
            "lot": lot,
            "run": {k: run[k] for k in ("id", "name", "qc_spec_id", "qc_spec_version")},
            "manufacturer": mfr,
            "inspections": [i | {"photos": photos[i["id"]]} for i in inspections],
            "orders": allocations,
        }

    async def trace_order(self, order_id: str) -> dict[str, Any]:
        """Order line → lot → inspections → run → manufacturer."""
        async with self.uow(readonly=True) as uow:
            order = await uow.orders.get_order(order_id)
            if order is None:
                raise NotFound(f"order {order_id} not found")
            allocations = await uow.production.allocations(order_id=order_id)
        lots = []
        for a in allocations:
            t = await self.trace_lot(a["lot_id"])
            lots.append(
                {
                    "sku_id": a["sku_id"],
                    "quantity": a["quantity"],
                    "lot": t["lot"],
                    "inspections": t["inspections"],
                    "run": t["run"],
                    "manufacturer": t["manufacturer"],
                }
            )
        return {
            "order_id": order_id,
            "lines": [
                {"sku_id": ln.ref_id, "quantity": ln.quantity, "kind": ln.kind}
                for ln in order.lines
            ],
            "lots": lots,
        }

    async def lots(self, run_id: str | None = None) -> list[dict[str, Any]]:
        async with self.uow(readonly=True) as uow:
            return await uow.production.lots(run_id)

    async def inspection(self, inspection_id: str) -> dict[str, Any]:
        async with self.uow(readonly=True) as uow:
            got = await uow.production.inspection(inspection_id)
            if got is None:
                raise NotFound(f"inspection {inspection_id} not found")
            return got | {"photos": await uow.production.photos(inspection_id)}
