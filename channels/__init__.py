"""Channel adapters (Telegram, Zalo Official Account) — not built yet.

Each adapter will receive a channel's webhook in the bot app, call
``bot.conversations.Router.handle(conversation_id, text=..., channel="telegram")`` and send
the replies back; ``bot.staff.deliver_to_channel`` is where dossier notifications will be
pushed to these channels. Until then the web chat (bot/static) is the only channel.
"""
