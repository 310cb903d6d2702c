"""Human handover: ward volunteers (tổ tư vấn) take chats over from the bot and hand them back.

- ``store``: the SQLite records (queue, events, notes, canned replies, presence, call-backs);
- ``officehours``: the ``OFFICE_HOURS`` setting;
- ``desk``: what happens on both sides (queue, pause / resume of Rasa, replies on the citizen's channel);
- ``figures``: the console's figures, computed from recorded events;
- the console's routes are in ``bot/console.py``.
"""
