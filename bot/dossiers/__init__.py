"""Draft dossiers (hồ sơ nháp): fill a procedure's real form one question at a time, keep
the dossier and its history, print the form as PDF. Pure Python, no Rasa.

Dialogue (``forms``) — stateless; the caller keeps ``answers`` (a JSON-friendly dict)::

    from bot.dossiers import FormSession, FieldError
    session = FormSession("ho-chieu")            # forms of procedures/forms/*.yml for it
    field = session.next_field(answers)          # Field to ask, or None when complete
    send(field.question())                       # prompt + numbered choices + "bỏ qua" hint
    try:
        answers = session.apply_answer(field.key, user_text, answers)   # returns a new dict
    except FieldError as e:
        send(e.message)                          # specific Vietnamese explanation
    session.summary(answers)                     # numbered Vietnamese recap, ID/phone masked
    session.find_fields("sửa ngày sinh", answers)  # [Field] (0, 1 or several → ask which)
    session.form_for(answers)                    # the Form for this case (TK01 vs TK01a), or None
    session.progress(answers)                    # (answered, total)

To edit, find the field, ask ``field.question()`` again and ``apply_answer`` the new text;
answers checked against it (e.g. the ID number against the birth date) are re-checked
and removed if they no longer pass, so ``next_field`` asks them again. Optional fields
accept "bỏ qua" / "không" (stored as ``None``). Dates are stored as ISO strings.

Store (``store``) — SQLite file, every write in one transaction::

    store = DossierStore("data/dossiers.sqlite")
    store.save_draft(conversation_id, "ho-chieu", answers, form_id=None, current_field=field.key,
                     message_id=42)              # the app's id of the message applied (retries)
    store.load_draft(conversation_id)            # Draft | None — survives restarts
    store.already_applied(draft, 42)             # True: message 42 (or older) was applied already
    d = store.create("ho-chieu", conversation_id, answers, form_id="TK01",
                     phone=answers["phone"])     # state "nhap", random code HS-2026-K7Q4MP; clears the draft
    store.transition(d.code, "da_nop", actor="citizen",
                     expected_date=add_working_days(today, 8))
    store.transition(d.code, "can_bo_sung", actor="officer:12", note="Thiếu ảnh 4x6")
    store.get_for(code, conversation_id=cid)     # or phone_last4="5678"; None if not allowed
                                                 # (the caller rate-limits phone_last4 attempts)
    store.history(code)                          # [Event(from_state, to_state, actor, note, at)]
    store.purge_drafts(older_than_days=30)

States (``states``): ``STATES[id].label`` / ``.next_steps`` (Vietnamese), ``TRANSITIONS``,
``check_transition`` raising ``InvalidTransition`` (Vietnamese message).

Other helpers: ``add_working_days(start, n)`` (weekends and holidays.yml skipped);
``render_pdf(form, answers, code, checklist_items=None) -> bytes``;
``checklist(catalogue_procedure, answers) -> [ChecklistItem]`` and ``format_checklist``;
``make_pdf_token(code, secret, ttl)`` / ``check_pdf_token(token, secret) -> code``
(raises ``InvalidToken`` / ``ExpiredToken``); ``mask(value)`` ("0912***678").
Validators (``validators``): ``parse_name/date/sex/personal_id/phone/email/text/address/choice``.

Codes (``codes``): ``new_code(year)`` ("HS-2026-K7Q4MP": random, from ``secrets``, 27 characters
that read aloud unambiguously, first and last a letter), ``find_code(text)`` (any case, spaces,
dashes, fullwidth; old sequential codes still found), ``normalise_code``.
Personal numbers (``masking``): ``personal_number(text)`` is the one grammar for an ID or phone
number written with separators; ``parse_phone`` / ``parse_personal_id`` read answers with it and
``mask_numbers(text)`` masks every such number in free text (accepted ⇒ masked).
Input: every parser normalises with ``bot.textinput.normalise_input`` first (fullwidth and
Arabic-Indic digits → ASCII); "today" is ``bot.clock.today()`` (Vietnam) unless ``today=`` is given.

Form YAML (procedures/forms/<id>.yml)::

    id, code (printed form code or null), name (for chat), title (printed), subtitle,
    legal_basis ("Mẫu TK01 ban hành kèm theo Thông tư số 31/2023/TT-BCA"),
    procedures: [catalogue ids], photo (text in the photo box), addressee_field ("Kính gửi"),
    case: {ask: [field keys asked first], when: <condition>}  # picks among a procedure's forms
    prefill: {<procedure id>: {<field>: <value>}}             # e.g. CT01 request per procedure
    declaration, notes: [footnotes],
    signatures: [{title, hint, name_field, when}],
    checklist: [{case: <catalogue paper group case>, when: <condition> | applies: bool}],
    sections: [{title, pdf_table: {columns, rows: [{label, fields}]}, fields: [...]}]
    field: key, label, prompt, why, type (name|date|sex|personal_id|phone|email|text|choice|address),
           choices, required (default true), when: <condition>,
           context: {<parser kwarg>: <earlier field key>}   # e.g. personal_id ← birth_date, sex
           params: {<parser kwarg>: value}                   # e.g. min_age: 18, sex: Nữ
           aliases: [words for editing], pdf: {number, label, upper, checkboxes, inline,
           in_words, hidden}
    Every form has a ``phone`` field (type phone): the contact number kept for access.

Conditions are a tiny YAML language, see ``conditions`` (equals, not_equals, one_of,
filled, age_under, age_at_least, all, any, not) — never evaluated as code.

Privacy: logs carry dossier codes, states and message ids only; summaries mask ID and phone numbers;
the PDF has full values and is only reachable with a signed, expiring token.
"""

from .checklist import ChecklistItem, checklist, format_checklist
from .forms import Field, Form, FormDefinitionError, FormSession, default_forms, load_form, load_forms
from .masking import mask, phone_last4
from .pdf import render_checklist_pdf, render_pdf
from .states import STATES, TRANSITIONS, InvalidTransition, check_transition
from .store import Dossier, DossierNotFound, DossierStore, Draft, Event
from .tokens import ExpiredToken, InvalidToken, TokenError, check_pdf_token, make_pdf_token
from .validators import FieldError
from .workdays import add_working_days, is_working_day

__all__ = [
    "FormSession", "Form", "Field", "FieldError", "FormDefinitionError", "default_forms", "load_form",
    "load_forms", "DossierStore", "Dossier", "Draft", "Event", "DossierNotFound", "STATES", "TRANSITIONS",
    "InvalidTransition", "check_transition", "add_working_days", "is_working_day", "render_pdf",
    "render_checklist_pdf",
    "checklist", "format_checklist", "ChecklistItem", "make_pdf_token", "check_pdf_token", "TokenError",
    "InvalidToken", "ExpiredToken", "mask", "phone_last4",
]
