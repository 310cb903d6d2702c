"""An alternative way to make text without diacritics work: accent-stripped features.

``FoldedLemmas`` runs after the tokenizer and sets every token's lemma to its folded
form ("hộ chiếu" → "ho chieu"); Rasa's CountVectorsFeaturizer uses lemmas by default,
so word and character n-gram features no longer see diacritics. config.yml does not use
it: the benchmark in README ("Text without diacritics") compares it with training on
diacritic-free copies of the examples, which did better, and keeps that.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.vntext import fold


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class FoldedLemmas(GraphComponent):
    """Sets each token's lemma to its lower-case, diacritic-free form."""

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "FoldedLemmas":
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            for token in message.get(TOKENS_NAMES[TEXT]) or []:
                token.lemma = fold(token.text)
        return messages
