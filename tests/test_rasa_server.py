"""The Rasa speed fix keeps validating action-server responses."""

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from bot import rasa_server


def test_responses_are_still_validated():
    rasa_server.apply()
    action = RemoteAction("action_answer_procedure", None)
    assert action._validate_action_result({"events": [{"event": "slot", "name": "procedure", "value": "x"}],
                                           "responses": [{"text": "xin chào"}]})
    with pytest.raises(jsonschema.ValidationError):
        action._validate_action_result({"events": "not a list"})


async def test_a_failing_tracker_store_fails_the_turn_instead_of_answering_without_context():
    from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    class DatabaseDown(InMemoryTrackerStore):
        async def retrieve(self, sender_id):
            raise ConnectionError("database down")

        async def save(self, tracker):
            raise ConnectionError("database down")

    rasa_server.apply()
    store = FailSafeTrackerStore(DatabaseDown(Domain.empty()))
    with pytest.raises(ConnectionError):
        await store.retrieve("c1")            # stock: None, i.e. a new, empty conversation
    with pytest.raises(ConnectionError):
        await store.save(DialogueStateTracker("c1", []))   # stock: kept in memory, lost later
    assert await store.fallback_tracker_store.retrieve("c1") is None


def _diet_model(agent):
    nodes = agent.processor.graph_runner._instantiated_nodes
    (diet,) = [n._component for name, n in nodes.items() if name.startswith("run_DIETClassifier")]
    return diet.model


def test_a_model_loaded_for_serving_keeps_no_training_state_and_still_answers():
    """Rasa trains a loaded DIET model one step to build it; the serving process drops that step's
    optimizer and training graph (README "Speed": memory) and answers as before."""
    from bot import settings
    from bot.parse import Parser

    config = settings.load()
    if not config.model.exists():
        pytest.skip("no trained model (make model)")
    rasa_server.apply()
    parser = Parser(config.model)
    model = _diet_model(parser.agent)
    assert model.optimizer is None and model.train_function is None
    for text, intent, procedure in (("làm hộ chiếu cần giấy tờ gì", "ask_papers", "ho-chieu"),
                                    ("lệ phí đăng ký khai sinh bao nhiêu", "ask_fee", "khai-sinh")):
        result = parser.parse(text)
        assert (result["intent"], result["procedure"]) == (intent, procedure)
        assert result["confidence"] > 0.5


def test_release_free_memory_runs_without_glibc(monkeypatch):
    import ctypes

    def no_libc(name):
        raise OSError(name)

    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    rasa_server.release_free_memory()  # no error: nothing to trim
