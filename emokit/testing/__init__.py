"""A kit for plugin authors: contract checks for each kind of component, and a task builder.

Call them from your plugin's tests (pytest or not); each raises :class:`ContractError` naming the
component and the rule it breaks, and returns what it produced so that a test can look further::

    from emokit.testing import check_dataset, check_extractor, check_method, make_task

    def test_my_method_keeps_the_contract():
        check_method(MyMethod(), options={"epochs": "3"})

    def test_my_corpus_loads(tmp_path):
        corpus = check_dataset(MyCorpus(), LoadContext(data_root=tmp_path / "data", cache_dir=tmp_path))

    def test_my_features(tmp_path):
        check_extractor(MyFeatures(), corpus.utterances[:4], tmp_path=tmp_path)

What is checked is what ``emokit bench`` relies on: names users can type, declared options, objects
that can be sent to worker processes (pickling), labels from the common vocabulary, speakers
enough for a speaker-independent split, vectors of one length and dtype, the same output for the
same input, unreadable media reported as :class:`~emokit.data.media.MediaReadError`, and methods
that never read the labels the runner withholds from them.
"""

from emokit.testing.datasets import check_dataset, check_suite
from emokit.testing.features import check_extractor
from emokit.testing.methods import check_method
from emokit.testing.rules import ContractError
from emokit.testing.tasks import as_runner_gives, make_task

__all__ = [
    "ContractError",
    "as_runner_gives",
    "check_dataset",
    "check_extractor",
    "check_method",
    "check_suite",
    "make_task",
]
