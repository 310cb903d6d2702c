"""Rasa SDK actions, one module per topic. Replies are built in ``actions.replies``."""
