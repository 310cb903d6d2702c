"""NLU building blocks for Rasa: text normalisation and procedure matching.

``bot.nlu.components`` holds the Rasa graph components named in ``config.yml``;
``bot.nlu.matching`` the plain functions that find catalogue procedures in text.
"""
