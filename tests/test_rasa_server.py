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
