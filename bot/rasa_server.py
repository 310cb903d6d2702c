"""Start Rasa (``python -m bot.rasa_server run ...``, same arguments as ``rasa``) with our fixes.

- **Speed**: Rasa 3.6 checks every action-server response with ``jsonschema.validate``,
  which also re-checks the (constant) schema itself each time: with our actions that was
  46% of the Rasa process's CPU under load (measured with py-spy, see README "Speed").
  Here the validator is built once; responses are validated exactly as before.
- **Action timeout**: Rasa 3.6 waits up to a fixed 5 minutes for the action server
  (``DEFAULT_REQUEST_TIMEOUT`` in ``rasa/core/actions/action.py``). Here it waits
  ``ACTIONS_TIMEOUT`` seconds (set by ``bot.processes`` from ``settings.actions_timeout``,
  always below ``RASA_TIMEOUT``), so a slow action fails inside Rasa before the bot app
  gives up on Rasa.
- **API token**: with ``--enable-api``, ``--auth-token`` is added from ``RASA_TOKEN`` (kept
  off the command line, which any local user can read); the API is never started without it.
- **Truthful tracker store**: a failing tracker store fails the turn (stock Rasa answers from an
  empty conversation and keeps the turn in memory only).
- **Memory**: Rasa builds a loaded DIET model by training it one step (``RasaModel.load``), and the
  serving process then keeps that step's optimizer state and training graph for nothing; glibc
  also keeps the freed load buffers. Here a model loaded for serving (not for fine-tuning) drops
  them and the allocator returns free memory to the system (``malloc_trim``), after each load
  and after a ``PUT /model`` swap (README "Speed": about 100 MB of the Rasa process).
- **Logs**: Rasa runs at INFO or above (it logs message texts at DEBUG); its structured
  log events keep only known-safe fields, and tracebacks keep no exception message
  (``bot.processes.install_log_hygiene``).
"""

from __future__ import annotations

import logging
import os
import sys
from functools import lru_cache
from typing import Any, Dict

import jsonschema
from rasa.core.actions.action import RemoteAction

# Fields of Rasa's structured log events that never carry what a citizen wrote.
SAFE_EVENT_KEYS = {"event", "event_info", "log_level", "timestamp", "action_name", "action", "policy_name",
                   "policy", "intent_name", "sender_id", "conversation_id", "placeholder_key", "filename",
                   "model", "status", "url", "exc_type", "name", "level"}
DEBUG_FLAGS = {"-v", "--verbose", "-vv", "--debug"}


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    schema = RemoteAction.action_response_format_spec()
    return jsonschema.validators.validator_for(schema)(schema)


def _validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
    try:
        _validator().validate(result)
        return True
    except jsonschema.ValidationError as error:
        error.message += ". Failed to validate Action server response from API."
        raise


def scrub_event(event_dict: Dict[str, Any], method_name: str = "") -> Dict[str, Any]:
    """A structlog event with only safe fields kept (numbers masked); others are replaced by
    their type, an exception by its frames and type (``safe_traceback``)."""
    from bot.processes import _mask, safe_traceback

    cleaned: Dict[str, Any] = {}
    if method_name == "exception" and "exc_info" not in event_dict:
        event_dict = {**event_dict, "exc_info": True}
    for key, value in event_dict.items():
        if key == "exc_info":
            info = sys.exc_info() if value is True else value
            if isinstance(info, BaseException) or (isinstance(info, tuple) and info[1] is not None):
                cleaned["exception"] = safe_traceback(info)
            cleaned["exc_info"] = False  # structlog must not render the raw exception (its message) again
        elif isinstance(value, (bool, int, float)) or value is None:
            cleaned[key] = value
        elif key in SAFE_EVENT_KEYS and isinstance(value, str):
            cleaned[key] = _mask(value)
        else:
            cleaned[key] = f"<{type(value).__name__} not logged>"
    return cleaned


def _install_structlog_scrubber() -> None:
    """Rasa builds its structlog pipeline with ``_anonymizer`` first (looked up when
    ``configure_structlog`` runs): wrap it so that every event is scrubbed first."""
    from rasa.utils import log_utils

    anonymize = log_utils._anonymizer
    if getattr(anonymize, "_bot_scrubber", False):
        return

    def scrubber(logger: Any, method_name: str, event_dict: Dict[str, Any]) -> Dict[str, Any]:
        return scrub_event(anonymize(logger, method_name, event_dict), method_name)

    scrubber._bot_scrubber = True
    log_utils._anonymizer = scrubber


def _install_action_timeout() -> None:
    seconds = float(os.environ.get("ACTIONS_TIMEOUT") or 0)
    if seconds > 0:
        import aiohttp
        import rasa.core.actions.action as action_module

        action_module.DEFAULT_REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=seconds)


def _install_truthful_tracker_store() -> None:
    """Rasa wraps the tracker store in ``FailSafeTrackerStore``: when the database fails, it reads
    an *empty* conversation and saves the turn in this process's memory only. With PostgreSQL down
    the citizen then got an answer without the conversation's context ("lệ phí của thủ tục 'thế
    còn'"), and the turn was lost once the database came back. Here the error reaches the turn
    instead: Rasa answers 500, the bot app sees the store is down (``bot.shared_stores``), tells
    the citizen the system is busy and answers the kept message once the database is back."""
    from rasa.core.tracker_store import FailSafeTrackerStore

    async def retrieve(self, sender_id):
        return await self._tracker_store.retrieve(sender_id)

    async def retrieve_full_tracker(self, sender_id):
        return await self._tracker_store.retrieve_full_tracker(sender_id)

    async def save(self, tracker):
        await self._tracker_store.save(tracker)

    FailSafeTrackerStore.retrieve = retrieve
    FailSafeTrackerStore.retrieve_full_tracker = retrieve_full_tracker
    FailSafeTrackerStore.save = save


def release_free_memory() -> None:
    """Collect garbage and hand glibc's free heap pages back to the system (no-op without glibc)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def lean_for_serving(model: Any) -> None:
    """Drop what only training needs from a loaded Keras model: the optimizer (Adam keeps two
    copies of every weight) and the traced training step. Prediction does not use them."""
    model.optimizer = None
    model.train_function = None


def _install_lean_model_load() -> None:
    from rasa.utils.tensorflow.models import RasaModel

    if getattr(RasaModel.load, "_bot_lean", False):
        return
    original = RasaModel.load.__func__

    def load(cls, model_file_name, model_data_example, predict_data_example=None, finetune_mode=False,
             *args, **kwargs):
        model = original(cls, model_file_name, model_data_example, predict_data_example, finetune_mode,
                         *args, **kwargs)
        if not finetune_mode:
            lean_for_serving(model)
            release_free_memory()
        return model

    load._bot_lean = True
    RasaModel.load = classmethod(load)


def _force_info_level() -> None:
    level = logging.getLevelName(os.environ.get("LOG_LEVEL", "INFO").upper())
    if not isinstance(level, int) or level < logging.INFO:
        os.environ["LOG_LEVEL"] = "INFO"


def apply() -> None:
    from bot.model_registry import install_background_model_load
    from bot.processes import install_log_hygiene

    RemoteAction._validate_action_result = _validate_action_result
    install_background_model_load()  # PUT /model loads in a thread: the old model answers meanwhile
    _install_lean_model_load()
    _install_action_timeout()
    _install_truthful_tracker_store()
    _force_info_level()
    install_log_hygiene()
    _install_structlog_scrubber()


def prepare_argv(argv: list[str]) -> list[str]:
    """Rasa's arguments without debug flags, with ``--auth-token`` from ``RASA_TOKEN`` when the
    API is on. Raises ``SystemExit`` if the API would start without a token."""
    argv = [a for a in argv if a not in DEBUG_FLAGS]
    if "--enable-api" in argv and "--auth-token" not in argv:
        token = os.environ.get("RASA_TOKEN")
        if not token:
            raise SystemExit("bot.rasa_server: --enable-api needs RASA_TOKEN (or --auth-token)")
        argv += ["--auth-token", token]
    return argv


def main() -> None:
    from rasa.__main__ import main as rasa_main

    apply()
    sys.argv = ["rasa", *prepare_argv(sys.argv[1:])]
    rasa_main()


if __name__ == "__main__":
    main()
