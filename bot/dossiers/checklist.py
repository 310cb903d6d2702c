"""The papers a citizen must bring, from the catalogue, for the citizen's own case.

The catalogue (``procedures``) groups papers by case (free Vietnamese text such as
"Người chưa đủ 14 tuổi"). Which groups apply is decided, in order, by:

0. the citizen's answer to a ``choices_from: paper_groups`` question (the generic draft): only
   that case's group applies;
1. a rule in the form YAML (``checklist: [{case, when | applies}]``; the rule's ``case``
   is matched against the group's case without accents, as a prefix);
2. the form codes printed in the group: a group naming another form of the same
   procedure (TK01a when the citizen fills TK01) does not apply; one naming the
   citizen's form does;
3. otherwise — or when a rule's fields were not answered — the group "may apply"
   (``certain=False``) and is shown with its case.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from bot import clock
from bot.vntext import fold
from procedures.model import quantity_text

from . import conditions
from .forms import Form, FormSession, case_labels

__all__ = ["ChecklistItem", "checklist", "format_checklist"]


@dataclass(frozen=True)
class ChecklistItem:
    name: str
    originals: int
    copies: int
    form: Optional[str]
    note: str
    case: str
    certain: bool          # False: only if the group's case applies to the citizen
    prefilled: bool        # the bot fills this form (the dossier PDF)

    def quantity(self) -> str:
        return quantity_text(self.originals, self.copies) or "xuất trình khi nộp"


def _rule_for(form: Form, case: str) -> Optional[dict]:
    key = fold(case)
    for rule in form.checklist:
        if key.startswith(fold(rule["case"])):
            return rule
    return None


def _applies(group, form: Form, other_codes: set[str], answers: Mapping[str, Any],
             today: dt.date, procedure_groups: tuple = ()) -> Optional[bool]:
    """True / False, or None for "may apply"."""
    if len(procedure_groups) == 1:
        return True  # the only case there is
    rule = _rule_for(form, group.case)
    if rule is not None:
        if "applies" in rule:
            return bool(rule["applies"])
        if any(answers.get(k) is None for k in conditions.references(rule["when"])):
            return None   # not asked (or left empty): cannot tell
        return conditions.evaluate(rule["when"], answers, today)
    codes = {item.form for item in group.items if item.form}
    if form.code and form.code in codes:
        return True
    if codes & other_codes:
        return False
    return None


def checklist(procedure, answers: Mapping[str, Any], forms: Optional[Mapping[str, Form]] = None,
              today: Optional[dt.date] = None) -> list[ChecklistItem]:
    """Papers for ``procedure`` (a catalogue ``Procedure``) in the citizen's case, certain ones first.

    Duplicates (the same paper in two applicable groups) are listed once.
    """
    today = today or clock.today()
    session = FormSession(procedure.id, forms=forms, today=today)
    form = session.form_for(answers)
    if form is None:
        raise ValueError("answers do not decide the form yet")
    answers = session.effective_answers(answers)
    other_codes = {f.code for f in session.forms if f is not form and f.code}
    chosen = _chosen_case(procedure, form, answers)
    items: list[ChecklistItem] = []
    seen: set[str] = set()
    for certain in (True, None):
        for index, group in enumerate(procedure.papers):
            applies = (index == chosen) if chosen is not None else \
                _applies(group, form, other_codes, answers, today, tuple(procedure.papers))
            if applies is not certain:
                continue
            for paper in group.items:
                if fold(paper.name) in seen:
                    continue
                seen.add(fold(paper.name))
                items.append(ChecklistItem(
                    name=paper.name, originals=paper.originals, copies=paper.copies, form=paper.form,
                    note=paper.note, case=group.case, certain=bool(certain),
                    prefilled=_is_form(paper, form)))
    return items


def _chosen_case(procedure, form: Form, answers: Mapping[str, Any]) -> Optional[int]:
    """The index of the paper group the citizen chose (``choices_from: paper_groups``), or None."""
    for f in form.fields:
        if f.choices_from == "paper_groups" and isinstance(answers.get(f.key), str):
            labels = case_labels(procedure)
            return labels.index(answers[f.key]) if answers[f.key] in labels else None
    return None


def is_note(item: "ChecklistItem") -> bool:
    """A portal note kept among the papers ("* Lưu ý: …", no original and no copy): shown as a note."""
    return not item.originals and not item.copies and fold(item.name).lstrip(" *-").startswith(("luu y", "ghi chu"))


def _is_form(paper, form: Form) -> bool:
    if paper.form:
        return paper.form == form.code
    return fold(paper.name).startswith(fold(form.name))


def format_checklist(items: list[ChecklistItem]) -> str:
    """Vietnamese text for chat: the certain papers, then "if you are in this case" ones."""
    lines = ["Giấy tờ bạn cần chuẩn bị:"]
    notes = [i for i in items if is_note(i)]
    items = [i for i in items if not is_note(i)]
    for item in (i for i in items if i.certain):
        lines.append(_line(item))
    maybe = [i for i in items if not i.certain]
    case = None
    for item in maybe:
        if item.case != case:
            case = item.case
            lines.append(f"Nếu thuộc trường hợp “{case}”:")
        lines.append(_line(item))
    if notes:
        lines.append("Lưu ý:")
        lines += [f"- {' '.join(n.name.split()).lstrip('* ').rstrip(' ;,')}" for n in notes]
    return "\n".join(lines)


def _line(item: ChecklistItem) -> str:
    text = f"- {' '.join(item.name.split()).rstrip(' ;,.:')}"
    if item.form:
        text += f" (mẫu {item.form})"
    text += f": {item.quantity()}"
    if item.prefilled:
        text += " — mình đã điền sẵn trong tệp PDF"
    if item.note:
        text += f". {item.note}"
    return text
