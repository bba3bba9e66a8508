"""Quality control specs and golden samples.

A QC spec is versioned like software: every change is a new version, old versions stay
readable. A golden sample approved against a version freezes it; runs may only reference
frozen versions. What a spec's content may hold is ``dropline.domain.supply.qc``'s rule
(``clean_spec_content``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dropline.domain.errors import Conflict, InvalidInput, NotFound
from dropline.domain.events import DomainEvent
from dropline.domain.ids import new_id
from dropline.domain.supply.qc import clean_spec_content
from dropline.store.uow import UowFactory


class QcSpecService:
    def __init__(self, uow: UowFactory) -> None:
        self.uow = uow

    async def create_spec(
        self, product_id: str, name: str, content: Mapping[str, Any], *, actor: str
    ) -> dict[str, Any]:
        """A new spec for a product, at version 1 (not frozen until a golden sample of it
        is approved)."""
        clean = clean_spec_content(content)
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("a spec needs a name of 1-200 characters", field="name")
        spec_id = new_id("qcs")
        async with self.uow() as uow:
            if await uow.catalog.get_product(product_id) is None:
                raise NotFound(f"product {product_id} not found")
            await uow.production.add_spec_version(
                {
                    "spec_id": spec_id,
                    "version": 1,
                    "product_id": product_id,
                    "name": name,
                    "content": clean,
                    "created_by": actor,
                }
            )
            got = await uow.production.spec_version(spec_id, 1)
            await uow.commit()
        assert got is not None
        return got

    async def revise_spec(
        self, spec_id: str, content: Mapping[str, Any], *, actor: str, name: str | None = None
    ) -> dict[str, Any]:
        """A change is a new version (the previous ones stay readable and unchanged)."""
        clean = clean_spec_content(content)
        async with self.uow() as uow:
            versions = await uow.production.spec_versions(spec_id)
            if not versions:
                raise NotFound(f"QC spec {spec_id} not found")
            last = versions[-1]
            version = int(last["version"]) + 1
            await uow.production.add_spec_version(
                {
                    "spec_id": spec_id,
                    "version": version,
                    "product_id": last["product_id"],
                    "name": (name or last["name"]).strip()[:200],
                    "content": clean,
                    "created_by": actor,
                }
            )
            got = await uow.production.spec_version(spec_id, version)
            await uow.commit()
        assert got is not None
        return got

    async def spec_versions(self, spec_id: str) -> list[dict[str, Any]]:
        async with self.uow(readonly=True) as uow:
            versions = await uow.production.spec_versions(spec_id)
        if not versions:
            raise NotFound(f"QC spec {spec_id} not found")
        return versions

    # ------------------------------------------------------------------ golden samples
    async def register_sample(
        self, spec_id: str, version: int, description: str, *, actor: str
    ) -> dict[str, Any]:
        sample_id = new_id("gsm")
        async with self.uow() as uow:
            if await uow.production.spec_version(spec_id, version) is None:
                raise NotFound(f"QC spec {spec_id} version {version} not found")
            await uow.production.add_golden_sample(
                {
                    "id": sample_id,
                    "spec_id": spec_id,
                    "spec_version": version,
                    "description": description.strip()[:2000],
                    "registered_by": actor,
                }
            )
            got = await uow.production.golden_sample(sample_id)
            await uow.commit()
        assert got is not None
        return got

    async def approve_sample(
        self, sample_id: str, *, approver: str, note: str = ""
    ) -> dict[str, Any]:
        """Sign off a golden sample; this freezes its spec version for production use."""
        approver = approver.strip()
        if not approver:
            raise InvalidInput("approval needs the approver's name", field="approver")
        async with self.uow() as uow:
            sample = await uow.production.golden_sample(sample_id)
            if sample is None:
                raise NotFound(f"golden sample {sample_id} not found")
            if not await uow.production.approve_golden_sample(sample_id, approver, note[:2000]):
                raise Conflict("this golden sample is already approved")
            await uow.production.freeze_spec_version(
                sample["spec_id"], int(sample["spec_version"]), approver
            )
            uow.record(
                DomainEvent(
                    "qc.golden_sample_approved",
                    "qc_spec",
                    sample["spec_id"],
                    int(sample["spec_version"]),
                    {
                        "sample_id": sample_id,
                        "spec_id": sample["spec_id"],
                        "version": int(sample["spec_version"]),
                        "approver": approver,
                    },
                )
            )
            got = await uow.production.golden_sample(sample_id)
            await uow.commit()
        assert got is not None
        return got
