"""``dropline demo``: the demo shop (a hoodie in 3 colours × 4 sizes, a cap, a
hoodie+cap bundle) and a live drop offering them. Seeding is idempotent: a second run
changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dropline.cli.console import console, run
from dropline.domain.errors import DroplineError
from dropline.domain.live.drops import DropStatus

if TYPE_CHECKING:
    from dropline.bootstrap import Container

COLOURS = ("Black", "Sand", "Forest")
SIZES = ("S", "M", "L", "XL")
DEMO_DROP = "Friday night live drop"


@dataclass(frozen=True)
class DemoShop:
    drop_id: str
    created: bool


async def seed(c: Container) -> DemoShop:
    """Create the demo catalog, stock and live drop unless they already exist."""
    for drop in await c.drops.list_drops():
        if drop.name == DEMO_DROP and drop.status is not DropStatus.ENDED:
            return DemoShop(drop.id, False)
    async with c.uow(readonly=True) as uow:
        existing = await uow.catalog.get_sku_by_code("HOOD-BLK-M")
    if existing is None:
        hoodie = await c.catalog.create_product("Logo Hoodie", "Heavyweight 450 gsm fleece")
        skus = []
        for colour in COLOURS:
            for size in SIZES:
                sku = await c.catalog.create_sku(
                    hoodie.id,
                    f"HOOD-{colour[:3].upper()}-{size}",
                    6500,
                    "USD",
                    {"colour": colour, "size": size},
                    safety_pct=5,
                    bin_location=f"A-{COLOURS.index(colour) + 1:02d}-{SIZES.index(size) + 1:02d}",
                )
                await c.stock.receive(sku.id, 60, actor="demo", note="opening stock")
                skus.append(sku)
        cap = await c.catalog.create_product("Dad Cap", "Embroidered cotton twill")
        cap_sku = await c.catalog.create_sku(
            cap.id,
            "CAP-ONE",
            2500,
            "USD",
            {"size": "One size"},
            safety_qty=5,
            bin_location="B-01-01",
        )
        await c.stock.receive(cap_sku.id, 205, actor="demo", note="opening stock")
        black_m = next(s for s in skus if s.code == "HOOD-BLA-M")
        await c.catalog.create_bundle(
            "BNDL-HOOD-CAP",
            "Hoodie + Cap (Black / M)",
            8000,
            "USD",
            [(black_m.id, 1), (cap_sku.id, 1)],
        )
    async with c.uow(readonly=True) as uow:
        all_skus = await uow.catalog.list_skus()
        bundles = await uow.catalog.get_bundles()
    drop = await c.drops.create(DEMO_DROP, "USD", hold_ttl_s=90)
    for sku in all_skus:
        qty = 150 if sku.code == "CAP-ONE" else 50
        await c.drops.set_offer(drop.id, sku.id, qty, per_buyer_limit=2)
    for b in bundles.values():
        if b.code == "BNDL-HOOD-CAP":
            await c.drops.add_bundle(drop.id, b.id)
    await c.drops.transition(drop.id, DropStatus.SCHEDULED, actor="demo")
    # The demo is not a real drop: an enforced readiness gate is overridden, on record.
    await c.drops.transition(
        drop.id, DropStatus.LIVE, actor="demo", override_reason="the demo shop, not a real drop"
    )
    return DemoShop(drop.id, True)


#: The shell variables ``.dropline/demo.env`` sets, the ones every guide uses.
ENV_NAMES = ("DL", "ADMIN_KEY", "OPS_KEY", "STORE_KEY", "BUYER_TOKEN", "DROP")
_TOKEN_MIN_LEFT_S = 24 * 3600


def read_env(path: Path) -> dict[str, str]:
    """``export NAME=value`` lines of a demo.env written earlier (missing: nothing)."""
    out: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, sep, value = line.removeprefix("export ").partition("=")
            if sep:
                out[name.strip()] = value.strip()
    return out


async def _key(c: Container, old: str | None, name: str, scope: str) -> tuple[str, bool]:
    """The key from the last run if it still works with ``scope``, else a new one."""
    if old:
        try:
            if (await c.access.authenticate(old)).allows(scope):
                return old, True
        except DroplineError:
            pass
    raw, _ = await c.access.create_key(name, scope)
    return raw, False


def _token(c: Container, old: str | None) -> str:
    """The buyer token from the last run while it has a day left, else a new one."""
    from dropline.services.platform.access import verify_buyer_token

    if old:
        try:
            verify_buyer_token(
                c.settings.buyer_token_secret, old, c.clock.now() + _TOKEN_MIN_LEFT_S
            )
            return old
        except DroplineError:
            pass
    return c.access.mint("buyer-demo-1", ttl_s=7 * 24 * 3600)


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def demo() -> None:
    """Seed the demo shop (hoodie 3 colours × 4 sizes, cap, bundle) and a live drop,
    and write the shell variables every guide uses (DL, ADMIN_KEY, OPS_KEY, STORE_KEY,
    BUYER_TOKEN, DROP) to .dropline/demo.env. Running it again changes nothing and
    reuses the keys it wrote, while they still work."""

    async def go(c: Container) -> None:
        shop = await seed(c)
        env = Path(c.settings.data_dir) / "demo.env"
        old = read_env(env)
        admin, a_old = await _key(c, old.get("ADMIN_KEY"), "demo admin", "admin")
        ops, o_old = await _key(c, old.get("OPS_KEY"), "demo ops", "ops")
        store, s_old = await _key(c, old.get("STORE_KEY"), "demo storefront", "storefront")
        token = _token(c, old.get("BUYER_TOKEN"))
        base = c.settings.base_url
        values = dict(zip(ENV_NAMES, (base, admin, ops, store, token, shop.drop_id), strict=True))
        env.parent.mkdir(parents=True, exist_ok=True)
        env.write_text("".join(f"export {k}={v}\n" for k, v in values.items()))
        env.chmod(0o600)
        reused = a_old and o_old and s_old
        path = _shown(env)
        console.print(
            f"demo drop [bold]{shop.drop_id}[/bold] "
            f"({'created' if shop.created else 'already there'}); keys "
            f"{'reused from ' + path if reused else 'written to ' + path}\n"
            f"  admin key:      {admin}\n  ops key:        {ops}\n  storefront key: {store}\n"
            f"  buyer token:    {token}\n"
            f"  in a shell:     source {path}   (sets {', '.join(ENV_NAMES)})\n"
            f"  pages:          {base}/ui (log in with the ops key)\n"
            f"  live monitor:   {base}/ui/drops/{shop.drop_id}\n"
            f"  API docs:       {base}/docs\n"
            f'  public view:    curl -H "Authorization: Bearer $STORE_KEY" '
            f'"$DL/v1/drops/$DROP/public"\n'
            f'  rehearse:       .venv/bin/dropline simulate "$DROP" --url "$DL" '
            f'--api-key "$OPS_KEY" --viewers 200 --duration 60',
            highlight=False,
        )

    run(go)
