"""The README stays true to the code: settings table, commands, intents."""

import re

import yaml

from bot import settings
from bot.settings import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_settings_table_is_the_one_in_the_code():
    doc = settings.__doc__
    table = doc[doc.index("| variable |"):].strip()
    assert table in README


def test_every_environment_variable_read_is_documented():
    source = (ROOT / "bot" / "settings.py").read_text(encoding="utf-8")
    for name in set(re.findall(r'"([A-Z_]{4,})"', source)):
        assert f"| {name} |" in settings.__doc__, name


def test_readme_commands_exist():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in re.findall(r"^make (\w+)", README, re.M):
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_intents_listed_in_readme_are_the_domain_intents():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    for intent in domain["intents"]:
        if intent != "show_procedures":  # only reachable from a button
            assert f"`{intent}`" in README, intent


def test_the_compose_file_sets_only_documented_settings():
    """scripts/deploy/compose.yml (not run here: no Docker) names settings that exist, and the
    several-process layout it describes passes the settings' own checks."""
    from dataclasses import replace

    from bot import settings

    compose = yaml.safe_load((ROOT / "scripts" / "deploy" / "compose.yml").read_text(encoding="utf-8"))
    documented = {line.split("|")[1].strip() for line in settings.__doc__.splitlines() if line.startswith("| ")}
    environment = compose["services"]["bot"]["environment"]
    assert set(environment) <= documented
    config = replace(settings.load(), secret_override="x" * 32, database_url="postgresql://bot@db/bot",
                     redis_url="redis://redis:6379/0", rasa_processes=int(environment["RASA_PROCESSES"]),
                     app_processes=int(environment["APP_PROCESSES"]))
    assert config.scale_out_problems() == []
