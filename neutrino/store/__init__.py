"""The store: SQLAlchemy tables, the unit of work with its global revision, Alembic migrations.

May import only neutrino.model and neutrino.config.
"""
