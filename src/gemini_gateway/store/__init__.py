"""The database: SQLAlchemy 2 async models, Alembic migrations, and queries."""

from gemini_gateway.store.database import Database

__all__ = ["Database"]
