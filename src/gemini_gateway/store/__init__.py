"""The database: SQLAlchemy 2 async models, Alembic migrations, and queries (store.database)."""
