"""coopbot storage: SQLModel tables, the SQL unit of work and Alembic migrations."""
