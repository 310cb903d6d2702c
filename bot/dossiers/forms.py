"""Form definitions (procedures/forms/*.yml) and the one-question-at-a-time session.

See the package docstring (``bot.dossiers``) for the YAML schema and the API. Two more keys:
``pdf: false`` marks a form that is never printed (``Form.has_pdf``; title, legal_basis and
signatures are then optional), and ``procedures: ["*"]`` makes a form the fallback of every
procedure that no other form lists (the generic draft, procedures/forms/lien-he.yml). The
generic form itself is not printed; its dossier gets a printed checklist instead
(``bot.dossiers.pdf.render_checklist_pdf``). A choice field with ``choices_from: paper_groups``
asks which case of the procedure's papers applies (its options are the cases, resolved per
procedure by ``FormSession``; not asked when the procedure has fewer than two cases).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import yaml

from bot import clock
from bot.textinput import normalise_input
from bot.vntext import fold

from . import conditions, validators
from .masking import mask
from .validators import FieldError

__all__ = [
    "FIELD_TYPES", "FormDefinitionError", "Field", "Section", "Signature", "Form",
    "load_form", "load_forms", "default_forms", "FORMS_DIR", "FormSession", "ANY_PROCEDURE", "case_labels",
]

FORMS_DIR = Path(__file__).resolve().parents[2] / "procedures" / "forms"

FIELD_TYPES: dict[str, Callable[..., Any]] = {
    "name": validators.parse_name,
    "date": validators.parse_date,
    "sex": validators.parse_sex,
    "personal_id": validators.parse_personal_id,
    "phone": validators.parse_phone,
    "email": validators.parse_email,
    "text": validators.parse_text,
    "choice": validators.parse_choice,
    "address": validators.parse_address,
}
MASKED_TYPES = {"personal_id", "phone"}
CONTACT_PHONE_KEY = "phone"
# ``procedures: ["*"]``: the form of every procedure that has no form of its own.
ANY_PROCEDURE = "*"
# ``choices_from`` values: where a choice field's options come from for the session's procedure.
# "paper_groups": the cases (trường hợp) of the procedure's papers; with fewer than two cases the
# field is not asked.
CHOICE_SOURCES = {"paper_groups"}
CASE_LABEL_CHARS = 80


def case_labels(procedure) -> tuple[str, ...]:
    """Short, distinct labels of a procedure's paper groups (cases), in catalogue order."""
    labels: list[str] = []
    for i, group in enumerate(getattr(procedure, "papers", ()), 1):
        text = " ".join((group.case or "").split()).strip(" :;,.-–")
        text = text[:1].upper() + text[1:] if text else f"Trường hợp {i}"
        if len(text) > CASE_LABEL_CHARS:
            text = text[:CASE_LABEL_CHARS - 1].rsplit(" ", 1)[0].rstrip(" ,;:(") + "…"
        while text in labels:
            text = f"{text} ({i})"
        labels.append(text)
    return tuple(labels)


def for_procedure(form: "Form", procedure) -> "Form":
    """``form`` with its ``choices_from`` fields resolved for ``procedure`` (or dropped when they do not apply)."""
    if not any(f.choices_from for f in form.fields):
        return form
    labels = case_labels(procedure) if procedure is not None else ()
    sections = []
    for section in form.sections:
        fields = []
        for f in section.fields:
            if f.choices_from == "paper_groups":
                if len(labels) < 2:
                    continue
                f = replace(f, choices=labels)
            fields.append(f)
        sections.append(replace(section, fields=tuple(fields)))
    return replace(form, sections=tuple(sections))

# What a citizen types to leave an optional field empty (compared after fold()).
SKIP_WORDS = {"khong", "khong co", "ko", "k", "bo qua", "chua co", "khong biet", "khong ro",
              "de trong", "-", "skip", "khong can"}
# Of those, the ones that can never be a real answer ("Không" is a valid religion).
_PURE_SKIP_WORDS = {"bo qua", "de trong", "-", "skip"}


class FormDefinitionError(ValueError):
    """A form YAML file that does not follow the schema."""


@dataclass(frozen=True)
class Field:
    """One question of a form."""

    key: str
    label: str
    prompt: str
    type: str = "text"
    required: bool = True
    why: Optional[str] = None
    choices: tuple[str, ...] = ()
    when: Optional[dict] = None
    context: dict = field(default_factory=dict)   # parser keyword → answer key
    params: dict = field(default_factory=dict)    # static parser keywords
    aliases: tuple[str, ...] = ()                 # extra words to find the field when editing
    pdf: dict = field(default_factory=dict)       # number, label, upper, checkboxes, in_words, hidden
    choices_from: Optional[str] = None            # "paper_groups": the choices are the procedure's cases

    def question(self) -> str:
        """The message to send: the prompt, the choices and how to skip an optional field."""
        text = self.prompt
        if self.choices:
            text += "\n" + "\n".join(f"{i}. {c}" for i, c in enumerate(self.choices, 1))
        if not self.required:
            text += "\n(Không bắt buộc — nếu không có, bạn gõ “bỏ qua”.)"
        return text

    def parse(self, text: str, answers: Mapping[str, Any], today: Optional[dt.date] = None) -> Any:
        """Validate ``text``; return the value to store (JSON-friendly), ``None`` for a skipped field."""
        text = normalise_input(text)
        word = fold(text).strip(" .!")
        if not self._is_choice(text):
            if not self.required and word in SKIP_WORDS:
                return None
            if self.required and word in _PURE_SKIP_WORDS:
                raise FieldError(f"Mục “{self.label}” bắt buộc phải có trong tờ khai, "
                                 "mình không bỏ qua được. Bạn trả lời giúp mình nhé.")
        kwargs = dict(self.params)
        kwargs.update({arg: answers[key] for arg, key in self.context.items()
                       if answers.get(key) is not None})
        kwargs["today"] = today
        if self.type == "choice":
            kwargs["choices"] = self.choices
        value = FIELD_TYPES[self.type](text, **kwargs)
        return value.isoformat() if isinstance(value, dt.date) else value

    def _is_choice(self, text: str) -> bool:
        return self.type == "choice" and fold(text) in {fold(c) for c in self.choices}

    def display(self, value: Any, masked: bool = True) -> str:
        """How a stored value reads in a summary or on the PDF."""
        if value is None or value == "":
            return ""
        if self.type == "date":
            return validators.format_date(dt.date.fromisoformat(str(value)))
        if masked and self.type in MASKED_TYPES:
            return mask(str(value))
        return str(value)


@dataclass(frozen=True)
class Section:
    title: Optional[str]
    fields: tuple[Field, ...]
    pdf_table: Optional[dict] = None   # {columns: [...], rows: [{label, fields: [...]}]}


@dataclass(frozen=True)
class Signature:
    title: str
    hint: str = "(Ký, ghi rõ họ tên)"
    name_field: Optional[str] = None
    when: Optional[dict] = None


@dataclass(frozen=True)
class Form:
    """A whole form: header texts, sections of fields, signature blocks, case selector."""

    id: str
    code: Optional[str]  # printed form code ("TK01"); None for forms without one
    name: str          # short name for chat ("Tờ khai đề nghị cấp hộ chiếu phổ thông")
    title: str         # printed title, in capitals as on the paper form ("" when has_pdf is False)
    legal_basis: str
    procedures: tuple[str, ...]   # catalogue ids, or ("*",) for the generic form
    sections: tuple[Section, ...]
    signatures: tuple[Signature, ...]
    has_pdf: bool = True   # False (YAML ``pdf: false``): contact data only, nothing to print
    subtitle: Optional[str] = None
    addressee_field: Optional[str] = None
    declaration: Optional[str] = None
    photo: Optional[str] = None
    case: Optional[dict] = None         # {when: <condition>, ask: [field keys]}
    prefill: dict = field(default_factory=dict)   # procedure id → {field key: value}
    notes: tuple[str, ...] = ()          # footnotes printed at the bottom of the PDF
    checklist: tuple[dict, ...] = ()     # [{case: <catalogue group case>, when: <cond> | applies: bool}]

    @property
    def fields(self) -> tuple[Field, ...]:
        return tuple(f for s in self.sections for f in s.fields)

    @property
    def is_generic(self) -> bool:
        """Whether this form serves every procedure without a form of its own."""
        return ANY_PROCEDURE in self.procedures

    def field(self, key: str) -> Field:
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(key)

    def active_fields(self, answers: Mapping[str, Any], today: Optional[dt.date] = None) -> list[Field]:
        """Fields whose ``when`` holds for these answers, in form order."""
        return [f for f in self.fields if conditions.evaluate(f.when, answers, today)]

    def matches_case(self, answers: Mapping[str, Any], today: Optional[dt.date] = None) -> bool:
        return conditions.evaluate((self.case or {}).get("when"), answers, today)

    def case_keys(self) -> tuple[str, ...]:
        return tuple((self.case or {}).get("ask", ()))


# --- loading ----------------------------------------------------------------------

def _field(raw: Mapping[str, Any], where: str) -> Field:
    missing = [k for k in ("key", "label", "prompt") if not raw.get(k)]
    if missing:
        raise FormDefinitionError(f"{where}: field without {', '.join(missing)}")
    key, ftype = raw["key"], raw.get("type", "text")
    where = f"{where} field {key}"
    if ftype not in FIELD_TYPES:
        raise FormDefinitionError(f"{where}: unknown type {ftype!r}")
    choices = tuple(raw.get("choices") or ())
    choices_from = raw.get("choices_from")
    if choices_from is not None and (choices_from not in CHOICE_SOURCES or ftype != "choice" or choices):
        raise FormDefinitionError(f"{where}: 'choices_from' must be one of {sorted(CHOICE_SOURCES)}, "
                                  "for a choice field without 'choices'")
    if (ftype == "choice") != bool(choices or choices_from):
        raise FormDefinitionError(f"{where}: 'choices' is required for, and only for, type choice")
    if raw.get("when") is not None:
        conditions.validate(raw["when"], where)
    unknown = set(raw) - {"key", "label", "prompt", "type", "required", "why", "choices", "when",
                          "context", "params", "aliases", "pdf", "choices_from"}
    if unknown:
        raise FormDefinitionError(f"{where}: unknown keys {sorted(unknown)}")
    return Field(key=key, label=raw["label"], prompt=raw["prompt"].strip(), type=ftype,
                 required=bool(raw.get("required", True)), why=raw.get("why"), choices=choices,
                 when=raw.get("when"), context=dict(raw.get("context") or {}),
                 params=dict(raw.get("params") or {}), aliases=tuple(raw.get("aliases") or ()),
                 pdf=dict(raw.get("pdf") or {}), choices_from=choices_from)


def _check_references(form: Form, where: str) -> None:
    seen: set[str] = set()
    for f in form.fields:
        if f.key in seen:
            raise FormDefinitionError(f"{where}: duplicate field key {f.key}")
        later = (conditions.references(f.when) | set(f.context.values())) - seen - set(form.case_keys())
        if later:
            raise FormDefinitionError(f"{where} field {f.key}: refers to {sorted(later)}, which must "
                                      "be asked earlier in the form")
        seen.add(f.key)
    keys = {f.key for f in form.fields}
    for sig in form.signatures:
        if sig.name_field and sig.name_field not in keys:
            raise FormDefinitionError(f"{where}: signature name_field {sig.name_field} is not a field")
    for k in form.case_keys():
        if k not in keys:
            raise FormDefinitionError(f"{where}: case asks {k}, which is not a field")
    conds = [s.when for s in form.signatures] + [r.get("when") for r in form.checklist] + \
        [(form.case or {}).get("when")]
    unknown = set().union(*(conditions.references(c) for c in conds)) - keys
    if unknown:
        raise FormDefinitionError(f"{where}: conditions refer to unknown fields {sorted(unknown)}")
    if form.addressee_field and form.addressee_field not in keys:
        raise FormDefinitionError(f"{where}: addressee_field {form.addressee_field} is not a field")
    if CONTACT_PHONE_KEY not in keys or form.field(CONTACT_PHONE_KEY).type != "phone":
        raise FormDefinitionError(f"{where}: every form needs a contact field "
                                  f"'{CONTACT_PHONE_KEY}' of type phone")
    for section in form.sections:
        for row in (section.pdf_table or {}).get("rows", ()):
            if set(row["fields"]) - keys:
                raise FormDefinitionError(f"{where}: pdf_table row {row['label']} names unknown fields")


_FORM_KEYS = {"id", "code", "name", "title", "subtitle", "legal_basis", "procedures", "sections",
              "signatures", "addressee_field", "declaration", "photo", "case", "prefill", "notes",
              "checklist", "pdf"}
_REQUIRED_KEYS = ("id", "name", "procedures", "sections")
_PRINT_KEYS = ("title", "legal_basis", "signatures")   # required when the form is printed (pdf: true)


def _procedures(raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(p, str) and p.strip() for p in raw):
        raise FormDefinitionError(f"{where}: procedures must be a list of catalogue ids")
    if ANY_PROCEDURE in raw and len(raw) > 1:
        raise FormDefinitionError(f"{where}: '{ANY_PROCEDURE}' (every other procedure) must be alone "
                                  "in procedures")
    return tuple(raw)


def _checklist_rules(raw: Any, where: str) -> tuple[dict, ...]:
    rules = []
    for rule in raw or ():
        if not isinstance(rule, Mapping) or not rule.get("case") or \
                (("when" in rule) == ("applies" in rule)):
            raise FormDefinitionError(f"{where}: a checklist rule needs case and either when or applies")
        if "when" in rule:
            conditions.validate(rule["when"], f"{where} checklist {rule['case']}")
        rules.append(dict(rule))
    return tuple(rules)


def load_form(path: Path | str) -> Form:
    """Read and check one form YAML file."""
    path = Path(path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    where = path.name
    if not isinstance(raw, Mapping):
        raise FormDefinitionError(f"{where}: not a form definition")
    has_pdf = raw.get("pdf", True)
    if not isinstance(has_pdf, bool):
        raise FormDefinitionError(f"{where}: pdf must be true or false")
    for key in _REQUIRED_KEYS + (_PRINT_KEYS if has_pdf else ()):
        if not raw.get(key):
            raise FormDefinitionError(f"{where}: missing {key}")
    if set(raw) - _FORM_KEYS:
        raise FormDefinitionError(f"{where}: unknown keys {sorted(set(raw) - _FORM_KEYS)}")
    if not all(isinstance(n, str) for n in raw.get("notes") or ()):
        raise FormDefinitionError(f"{where}: notes must be plain strings (quote those containing ': ')")
    case = raw.get("case")
    if case is not None:
        conditions.validate(case.get("when"), f"{where} case")
    sections = tuple(
        Section(title=s.get("title"),
                fields=tuple(_field(f, where) for f in s["fields"]),
                pdf_table=s.get("pdf_table"))
        for s in raw["sections"])
    signatures = tuple(Signature(**s) for s in raw.get("signatures") or ())
    form = Form(id=raw["id"], code=raw.get("code"), name=raw["name"], title=raw.get("title") or "",
                legal_basis=raw.get("legal_basis") or "", procedures=_procedures(raw["procedures"], where),
                sections=sections, signatures=signatures, has_pdf=has_pdf,
                subtitle=raw.get("subtitle"), addressee_field=raw.get("addressee_field"),
                declaration=raw.get("declaration"), photo=raw.get("photo"), case=case,
                prefill=dict(raw.get("prefill") or {}), notes=tuple(raw.get("notes") or ()),
                checklist=_checklist_rules(raw.get("checklist"), where))
    _check_references(form, where)
    return form


def load_forms(directory: Path | str = FORMS_DIR) -> dict[str, Form]:
    """All forms of a directory, by id."""
    forms = {}
    for path in sorted(Path(directory).glob("*.yml")):
        form = load_form(path)
        if form.id in forms:
            raise FormDefinitionError(f"{path.name}: duplicate form id {form.id}")
        forms[form.id] = form
    return forms


@functools.lru_cache(maxsize=1)
def default_forms() -> dict[str, Form]:
    """The forms shipped in procedures/forms (loaded once)."""
    return load_forms(FORMS_DIR)


# --- the dialogue session -------------------------------------------------------------

_EDIT_STOPWORDS = {
    "sua", "lai", "doi", "thay", "chinh", "cho", "minh", "toi", "em", "anh", "chi", "muon", "giup",
    "thong", "tin", "phan", "muc", "nhap", "cai", "bi", "sai", "nhe", "a", "la", "voi", "de", "can",
    "xin", "ban", "o", "cua", "va", "hay", "vui", "long", "di", "nha", "oi", "ah", "thanh",
}


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"\w+", fold(text)) if w not in _EDIT_STOPWORDS]


class FormSession:
    """Drives one procedure's form(s) through a dialogue. Stateless: answers live with the caller.

    The forms are those listing ``procedure_id``; when none does, the generic ones
    (``procedures: ["*"]``). ``KeyError`` when there is neither.

    ``answers`` is a plain JSON-friendly dict {field key: value}; ``None`` means "asked,
    left empty". Dates are stored as ISO strings ("1990-03-12").
    """

    def __init__(self, procedure_id: str, forms: Optional[Mapping[str, Form]] = None,
                 today: Optional[dt.date] = None, procedure=None):
        all_forms = default_forms() if forms is None else forms
        self.procedure_id = procedure_id
        self.forms = [f for f in all_forms.values() if procedure_id in f.procedures] or \
            [f for f in all_forms.values() if f.is_generic]
        if not self.forms:
            raise KeyError(f"no form for procedure {procedure_id!r}")
        if any(f.choices_from for form in self.forms for f in form.fields):
            if procedure is None:
                from procedures import default_catalogue

                procedure = default_catalogue().get(procedure_id)
            self.forms = [for_procedure(form, procedure) for form in self.forms]
        self._today = today

    @property
    def today(self) -> dt.date:
        return self._today or clock.today()

    def effective_answers(self, answers: Mapping[str, Any]) -> dict:
        """``answers`` plus the values the form presets for this procedure (``prefill``)."""
        merged: dict = {}
        for form in self.forms:
            merged.update(form.prefill.get(self.procedure_id, {}))
        merged.update(answers)
        return merged

    def form_for(self, answers: Mapping[str, Any]) -> Optional[Form]:
        """The form that applies to this citizen's case, or ``None`` while undecided."""
        if len(self.forms) == 1:
            return self.forms[0]
        if any(k not in answers for f in self.forms for k in f.case_keys()):
            return None
        for form in self.forms:
            if form.matches_case(answers, self.today):
                return form
        return None

    def _case_field(self, answers: Mapping[str, Any]) -> Optional[Field]:
        for form in self.forms:
            for key in form.case_keys():
                if key not in answers:
                    return form.field(key)
        return None

    def _field(self, key: str, answers: Mapping[str, Any]) -> Field:
        form = self.form_for(answers)
        for candidate in ([form] if form else []) + self.forms:
            try:
                return candidate.field(key)
            except KeyError:
                continue
        raise KeyError(f"unknown field {key!r}")

    def field(self, key: str, answers: Mapping[str, Any]) -> Field:
        """Field ``key`` of the form for ``answers`` (or of any of the procedure's forms)."""
        return self._field(key, self.effective_answers(answers))

    def next_field(self, answers: Mapping[str, Any]) -> Optional[Field]:
        """The next question to ask, or ``None`` when the form is complete."""
        answers = self.effective_answers(answers)
        form = self.form_for(answers)
        if form is None:
            field = self._case_field(answers)
            if field is None:
                raise LookupError(f"no form of {self.procedure_id!r} matches these answers")
            return field
        for f in form.active_fields(answers, self.today):
            if f.key not in answers:
                return f
        return None

    def is_complete(self, answers: Mapping[str, Any]) -> bool:
        return self.next_field(answers) is None

    def progress(self, answers: Mapping[str, Any]) -> tuple[int, int]:
        """(answered, total) over the questions that currently apply."""
        answers = self.effective_answers(answers)
        form = self.form_for(answers)
        if form is None:
            return 0, 0
        active = form.active_fields(answers, self.today)
        return sum(f.key in answers for f in active), len(active)

    def apply_answer(self, field_key: str, text: str, answers: Mapping[str, Any]) -> dict:
        """Validate ``text`` for ``field_key`` and return the new answers (input is not modified).

        Raises :class:`FieldError` with a Vietnamese message when the answer is not acceptable.
        Answers whose check depends on this one (e.g. the ID number after the birth date
        changed) are checked again; those that no longer pass are removed, so
        :meth:`next_field` asks them again.
        """
        current = self.effective_answers(answers)
        f = self._field(field_key, current)
        new = dict(current)
        new[field_key] = f.parse(text, current, self.today)
        return self._recheck_dependents(field_key, new)

    def _recheck_dependents(self, changed: str, answers: dict) -> dict:
        form = self.form_for(answers)
        for dep in (form.fields if form else ()):
            if changed in dep.context.values() and answers.get(dep.key) not in (None, ""):
                try:
                    stored = answers[dep.key]
                    shown = dep.display(stored, masked=False)
                    dep.parse(shown, answers, self.today)
                except FieldError:
                    del answers[dep.key]
        return answers

    def find_fields(self, text: str, answers: Mapping[str, Any]) -> list[Field]:
        """Fields the citizen means in "sửa ngày sinh" (by label words, accents optional).

        Returns the best matches among the questions that apply: one field, several
        (ambiguous — ask which), or none.
        """
        wanted = set(_words(text))
        if not wanted:
            return []
        answers = self.effective_answers(answers)
        form = self.form_for(answers)
        if form:
            fields = form.active_fields(answers, self.today)
        else:
            keys = dict.fromkeys(k for f in self.forms for k in f.case_keys())
            fields = [self._field(k, answers) for k in keys]
        scored = []
        for f in fields:
            words = set(_words(" ".join((f.label, f.pdf.get("label", ""), *f.aliases))))
            label_words = set(_words(f.label)) or words
            hits = len(wanted & words)
            if hits:
                scored.append(((hits, len(wanted & label_words) / len(label_words)), f))
        if not scored:
            return []
        best = max(score for score, _ in scored)
        return [f for score, f in scored if score == best]

    def summary(self, answers: Mapping[str, Any], masked: bool = True) -> str:
        """A Vietnamese recap of the answers, numbered in form order (ID and phone masked)."""
        answers = self.effective_answers(answers)
        form = self.form_for(answers)
        if form is None:
            return "Chưa đủ thông tin để chọn mẫu tờ khai."
        lines = [form.name + (f" (Mẫu {form.code})" if form.code else "")]
        number = 0
        for section in form.sections:
            active = [f for f in section.fields if conditions.evaluate(f.when, answers, self.today)]
            if not active:
                continue
            if section.title:
                lines.append(section.title)
            for f in active:
                number += 1
                if f.key not in answers:
                    shown = "(chưa trả lời)"
                else:
                    shown = f.display(answers[f.key], masked) or "(bỏ trống)"
                lines.append(f"{number}. {f.label}: {shown}")
        return "\n".join(lines)
