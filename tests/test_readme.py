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
