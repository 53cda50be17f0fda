"""Index on article.removed, so lists can leave removed articles out without reading rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 11:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_article_removed", "article", ["removed"])


def downgrade() -> None:
    op.drop_index("ix_article_removed", table_name="article")
