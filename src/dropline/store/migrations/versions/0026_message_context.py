"""message context: a buyer message may be stored as its template's inputs

``messages.context`` holds the values a message's templates are rendered with, fixed when
the event happens (the order's lines and totals as formatted money, the ship-to, the
ship-by date). A message stored that way has empty ``text_body`` and ``html_body`` and is
rendered when it is sent or shown: an order confirmation no longer renders two templates
and writes ~6 KB on the checkout path. Rows written before keep their rendered bodies
and a NULL context.

Revision ID: 0026_message_context
Revises: 0025_wave_on_sale
Create Date: 2026-12-07 18:40:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

# revision identifiers, used by Alembic.
revision: str = "0026_message_context"
down_revision: str | Sequence[str] | None = "0025_wave_on_sale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("context", sa.JSON, nullable=True))


def downgrade() -> None:
    """Downgrade schema. The older schema keeps rendered bodies only, so the messages
    stored as their inputs are rendered first, with the templates this package ships
    (the same environment settings as ``services/rendering.py``)."""
    env = Environment(
        loader=PackageLoader("dropline", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    m = sa.table(
        "messages",
        sa.column("id", sa.String),
        sa.column("kind", sa.String),
        sa.column("subject", sa.String),
        sa.column("text_body", sa.Text),
        sa.column("html_body", sa.Text),
        sa.column("context", sa.JSON),
    )
    bind = op.get_bind()
    pending = bind.execute(
        sa.select(m.c.id, m.c.kind, m.c.subject, m.c.context).where(m.c.context.is_not(None))
    ).all()
    for row in pending:
        if row.context is None:  # a JSON null: stored rendered
            continue
        ctx = {**row.context, "subject": row.subject}
        bodies = {
            f"{part}_body": env.get_template(f"messages/{row.kind}.{ext}").render(**ctx)
            for part, ext in (("text", "txt"), ("html", "html"))
        }
        bind.execute(sa.update(m).where(m.c.id == row.id).values(**bodies))
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("context")
