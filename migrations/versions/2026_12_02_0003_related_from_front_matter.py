"""Related entries are read from the stored front matter, not stored a second time.

They were kept twice: shaped in `article_document.related` and as given inside
`article_document.front_matter`, where they are most of a real article's front matter.
The API now shapes them from the front matter when an article is read (app/entries.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 11:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.entries import related_entries

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite drops a column in place (3.35+) when nothing refers to it, as here; batch mode
    # would copy the whole table instead.
    op.drop_column("article_document", "related")


def downgrade() -> None:
    # Refilled from the front matter, shaped as the previous version stored them. The
    # default only lets SQLite add a NOT NULL column; every row gets its own value.
    op.add_column(
        "article_document",
        sa.Column("related", sa.JSON(), nullable=False, server_default="[]"),
    )
    document = sa.table(
        "article_document",
        sa.column("article_pk", sa.Integer()),
        sa.column("front_matter", sa.JSON()),
        sa.column("related", sa.JSON()),
    )
    conn = op.get_bind()
    page = (
        sa.select(document.c.article_pk, document.c.front_matter)
        .where(document.c.article_pk > sa.bindparam("after"))
        .order_by(document.c.article_pk)
        .limit(1000)
    )
    update = (
        sa.update(document)
        .where(document.c.article_pk == sa.bindparam("pk"))
        .values(related=sa.bindparam("shaped"))
    )
    after = 0
    while rows := conn.execute(page, {"after": after}).all():
        conn.execute(update, [{"pk": pk, "shaped": related_entries(fm)} for pk, fm in rows])
        after = rows[-1][0]
