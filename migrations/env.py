"""Alembic environment: the models' metadata is the target, the URL comes from settings."""

from alembic import context
from sqlalchemy.engine import Connection

from app import models  # noqa: F401  (registers the tables on the metadata)
from app.db import make_engine, metadata
from app.migrate import is_managed_elsewhere

config = context.config


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # The full-text objects are dialect-specific and written by hand in the migrations.
    return not (type_ == "table" and name is not None and is_managed_elsewhere(name))


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_name=include_name,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:  # run by the alembic command itself; newscat passes its connection
        from app.settings import get_settings

        url = get_settings().database_url
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit(
        "newscat migrations run online only: set DATABASE_URL and run `newscat migrate`"
    )
run_online()
