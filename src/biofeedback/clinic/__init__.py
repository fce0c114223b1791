"""The clinic database: a shared PostgreSQL server that stations sync to (docs/clinic.md).

A storage-level package: ``schema`` (the one description of the stored tables, rendered as the
clinic's DDL), ``connect`` (connection strings, credentials and errors by libpq's rules, the
configured clinic), ``migrate`` (``clinic init``: versioned migrations; ``clinic status``) and
``roles`` (the station and clinician group roles). psycopg is imported only when a clinic is
used.
"""
