"""The hooks a plugin implements. Each returns a list of providers; emokit collects them by name.

A plugin is a module (or object) with functions decorated by :data:`hookimpl`, advertised in its
package metadata under the ``emokit`` entry-point group::

    # pyproject.toml of a third-party plugin
    [project.entry-points.emokit]
    my_corpus = "my_package.emokit_plugin"

    # my_package/emokit_plugin.py
    from emokit.api import DatasetProvider, hookimpl

    class MyCorpus(DatasetProvider):
        name = "my-corpus"
        ...

    @hookimpl
    def emokit_register_datasets():
        return [MyCorpus()]

emokit's built-in plugins are registered through the same entry points. docs/plugins.md is the
guide: every attribute of each kind of component, the contracts, and worked examples.
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "emokit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def emokit_register_datasets() -> list:
    """Return the corpora this plugin provides.

    Returns:
        A list of :class:`emokit.api.DatasetProvider` instances. Each needs a unique
        ``name`` (lowercase, dashes allowed), a one-line ``description``, its ``modalities``
        (``"audio"`` and/or ``"visual"``) and ``language``, and a ``load(context)`` method that
        returns an :class:`emokit.api.Corpus`, raises :class:`emokit.api.DataLayoutError`
        when the data is missing, and reports (does not raise on) unreadable files.
    """


@hookspec
def emokit_register_features() -> list:
    """Return the feature extractors this plugin provides.

    Returns:
        A list of :class:`emokit.api.FeatureExtractor` instances. Each has a unique
        ``name``, a ``modality`` (``"audio"`` or ``"visual"``), a ``description``, a
        ``version`` and ``params()`` (the feature cache keys on all three), and
        ``extract(utterance)`` returning a 1-D float32 vector or raising
        :class:`emokit.api.MediaReadError` for an unreadable file.
    """


@hookspec
def emokit_register_methods() -> list:
    """Return the transfer methods this plugin provides.

    Returns:
        A list of :class:`emokit.api.Method` instances. Each has a unique ``name``, a
        ``description``, the ``modalities`` it supports, and ``run(task)`` that trains on an
        :class:`emokit.api.TransferTask` and returns predicted class indices for
        ``task.target.test``. Model selection must use validation splits only.
    """


@hookspec
def emokit_register_suites() -> list:
    """Return the experiment suites this plugin provides.

    Returns:
        A list of :class:`emokit.api.Suite` instances, each with a unique ``name``. The suite named
        ``default`` is what ``emokit bench`` runs when no experiment is named, and its methods,
        features and reference method are the defaults of every run.
    """
