"""The benchmark runner: plans a run's cells, runs them (in this process, worker processes or Ray),
and writes, resumes and summarises the result file.

The method interface that used to be imported from here (``Method``, ``TransferTask``,
``MethodOption``...) lives in :mod:`emokit.methods`; plugins import it from :mod:`emokit.api`.
Those names still resolve here, with a :class:`DeprecationWarning`.
"""

from emokit import methods as _methods
from emokit._deprecated import forward_to

__getattr__ = forward_to(__name__, _methods)
