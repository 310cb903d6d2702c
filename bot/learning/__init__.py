"""Learning from real chats: the NLU inbox, placeholders for personal data, the training examples.

The staff page's "Câu chưa hiểu" and "Ý định & ví dụ" tabs (``bot.admin.inbox``) are thin routes
over this module.

**The inbox** (``bot.learning.inbox``) collects every typed citizen message the bot did not handle well, from the stores
that already exist (nothing is copied):

- the app's message store (``messages`` in ``var/bot.db``): the text as stored (ID and phone
  numbers already masked), and the bot's replies after it: a reply offering "Không phải các thủ
  tục trên" (``/none_of_these``) is a clarifying question (reason ``clarify``); the citizen then
  pressing that button makes the question before it ``none_of_these``;
- Rasa's tracker store (``events`` in ``var/rasa_tracker.db``, read only): each user event
  carries our message id in ``metadata.message_id``, so the NLU's intent, confidence, procedure
  and candidates join the stored message — ``nlu_fallback`` is reason ``fallback``, a confidence
  under ``LOW_CONFIDENCE`` is ``low_confidence``, a typed "không phải" (intent ``none_of_these``)
  marks the question before it. The tracker's text is never read: it holds numbers in clear;
- the handover store (``handovers``): the citizen's last question before a chat was handed to a
  person is reason ``handover``;
- volunteers' flags (``learning_flags``, this module's table): the citizen message a wrongly
  answered bot message replied to is reason ``flagged``.

Messages are grouped by ``group_key`` (placeholders for personal data, digits → 0, diacritics,
case, punctuation and spacing folded), most frequent first. A group a staff member annotated
(``learning_annotations``) leaves the inbox; the same text asked again later does not come back.

**Placeholders** (``bot.learning.placeholders``): before a citizen's words become a training example, personal
data is replaced by fixed, obviously fake values of the same shape, so the model still learns
"a phone number goes here": phone → ``PHONE``, ID number → ``PERSONAL_ID``, dossier code →
``DOSSIER_CODE``, a person's name → ``NAME``, a street address → ``ADDRESS``. It is idempotent.

**Training data** (``bot.learning.nludata.NluData``): the examples in the nlu directory (``nlu_data/`` by default; a
parameter, so tests write into a temporary copy). Hand-written files are edited line by line, so
their comments stay; new examples go to ``nlu/learned/<topic>.yml``, where the topic is the
hand-written file that holds most examples of the intent (``procedures``, ``chitchat``, …).
Every write is checked with Rasa's own YAML reader before it replaces the file.
"""

from bot.learning.inbox import (
    LOW_CONFIDENCE,
    REASONS,
    InboxItem,
    LearningStore,
    Sighting,
    collect,
    inbox,
    item_id,
    store_for,
)
from bot.learning.nludata import (
    DEFAULT_NLU_DIR,
    MIN_EXAMPLES,
    OUT_OF_SCOPE,
    BadExample,
    Example,
    NluData,
    annotate,
)
from bot.learning.placeholders import (
    ADDRESS,
    DOSSIER_CODE,
    NAME,
    PERSONAL_ID,
    PHONE,
    group_key,
    placeholders,
)

__all__ = ["REASONS", "LOW_CONFIDENCE", "PHONE", "PERSONAL_ID", "DOSSIER_CODE", "NAME", "ADDRESS",
           "placeholders", "group_key", "LearningStore", "store_for", "Sighting", "InboxItem", "collect", "inbox",
           "item_id", "NluData", "Example", "BadExample", "annotate", "DEFAULT_NLU_DIR", "MIN_EXAMPLES", "OUT_OF_SCOPE"]
