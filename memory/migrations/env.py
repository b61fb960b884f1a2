"""Alembic environment: the engine comes from the caller (memory.db.migrate) or the URL."""

from alembic import context

from memory.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        from sqlalchemy import create_engine

        connectable = create_engine(config.get_main_option("sqlalchemy.url"))
        with connectable.connect() as conn:
            context.configure(connection=conn, target_metadata=target_metadata)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=connectable, target_metadata=target_metadata,
                      version_table_schema=config.attributes.get("schema"))
    with context.begin_transaction():
        context.run_migrations()


run()
