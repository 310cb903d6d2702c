"""Alembic environment of the bot app's own database (see ``bot/db.py``).

Run by ``bot.db.migrate`` on the first open in a process, and by ``python -m bot db upgrade``
(the same function); it always receives an open connection in ``config.attributes``.
"""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
