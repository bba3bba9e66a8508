"""The database: SQLAlchemy Core tables and repositories per capability, the unit of
work, Alembic."""
