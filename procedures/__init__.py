"""The procedure catalogue: one YAML record per procedure in procedures/catalogue/<id>.yml.

    from procedures import default_catalogue
    catalogue = default_catalogue()
    catalogue.get("ho-chieu").fee_summary()
    catalogue.search("lam ho chieu")      # [(Procedure, score), ...]

Modules: ``model`` (the dataclasses), ``schema`` (validation of one record),
``loading`` (files → Catalogue, all or nothing), ``collection`` (the Catalogue),
``search`` (SQLite FTS5 index and ranking), ``faq`` (the knowledge base of questions about using
online services, procedures/faq.yml). CLI: ``python -m procedures``.
"""

from procedures.collection import Catalogue
from procedures.faq import FaqEntry, FaqError, default_faq, load_faq
from procedures.loading import CatalogueError, default_catalogue, load_catalogue
from procedures.model import Channel, LegalDoc, Paper, PaperGroup, Procedure, Source, Submit
from procedures.search import build_database

__all__ = [
    "Catalogue", "CatalogueError", "Procedure", "Channel", "Paper", "PaperGroup", "LegalDoc", "Source",
    "Submit", "build_database", "default_catalogue", "load_catalogue",
    "FaqEntry", "FaqError", "default_faq", "load_faq",
]
