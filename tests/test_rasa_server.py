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
