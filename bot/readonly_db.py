"""Reading another component's SQLite database without writing to it (Rasa's tracker store,
the app's own database for figures): read-only connections and a table check."""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["connect", "has_table"]


def connect(path: Path | str) -> sqlite3.Connection | None:
    """A read-only connection with ``sqlite3.Row`` rows, or ``None`` when the file does not exist yet."""
    if not Path(path).exists():
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    db.row_factory = sqlite3.Row
    return db


def has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None
