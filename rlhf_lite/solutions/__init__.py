"""Solutions to the exercises of :mod:`rlhf_lite.exercises`. No lesson imports this package: try first.

``exercises.show_solution("01.discounted_return")`` prints one. Each function here is what the exercise cell
should hold once solved (the same name and arguments as its stub); the tests check that every checker accepts
it, and the notebook test swaps these sources into the exercise cells and runs the lessons.

One module per lesson (``lessonNN.py``, its solutions listed in its ``__all__``), each re-exported here, so
``getattr(solutions, name)`` finds any of them and ``inspect.getsource`` shows it. A new lesson: a file plus
its import line below.
"""

from rlhf_lite.solutions.lesson01 import *  # noqa: F403
from rlhf_lite.solutions.lesson02 import *  # noqa: F403
from rlhf_lite.solutions.lesson03 import *  # noqa: F403
from rlhf_lite.solutions.lesson04 import *  # noqa: F403
from rlhf_lite.solutions.lesson05 import *  # noqa: F403
from rlhf_lite.solutions.lesson06 import *  # noqa: F403
