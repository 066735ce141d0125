"""Alembic environment: the URL comes from the caller's config or from AQKOL_DATABASE_URL.

With AQKOL_APP_DB_PASSWORD set (the deployment's migrate service), the services' own role
is then created or updated with what it needs and no more (services/store/roles.py).
"""

import os

from alembic import context

from services.config import Settings
from services.store.db import make_engine
from services.store.models import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url") or Settings().effective_database_url


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    app_password = os.environ.get("AQKOL_APP_DB_PASSWORD")
    if app_password and engine.dialect.name == "postgresql":
        from services.store.roles import APP_ROLE, grant_app_role

        grant_app_role(engine, app_password, os.environ.get("AQKOL_APP_DB_USER", APP_ROLE))
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
