"""What the reader sees and touches: the pair labeler, hyperparameter panels, and whether a person is there.

- :mod:`~rlhf_lite.widgets.labeling`: :class:`WidgetLabeler` (two clips or two completions, five buttons, every
  answer saved at the click); :mod:`~rlhf_lite.widgets.screen` is what it draws (each item kind's own view,
  :mod:`rlhf_lite.items`); :mod:`~rlhf_lite.widgets.refit`: :func:`refit_in_background`, :func:`record_answer`.
- :mod:`~rlhf_lite.widgets.panels`: :class:`ConfigPanel` / :func:`config_panel`, sliders for a config's fields.
- :mod:`~rlhf_lite.widgets.presence`: :func:`headless_reason`, the one decision whether a person can click here.

Clip drawing (``segment_frames``, ``segment_gif``, ``clip_fps``, ``clip_legend``) is in :mod:`rlhf_lite.clip_drawing`.

**Stable DOM classes** (``widget.add_class``), for browser tests and custom CSS:

==================  ==========================================================
``rlhf-labeler``    the whole labeler (a VBox)
``rlhf-left``       button "left is better"
``rlhf-right``      button "right is better"
``rlhf-equal``      button "equally good"
``rlhf-cant-tell``  button "can't tell"
``rlhf-undo``       button "undo"
``rlhf-clip-left``  the left clip (an ``<img>`` holding an animated GIF)
``rlhf-clip-right`` the right clip
``rlhf-clip-empty`` on both clips while no pair is on screen (they show blank frames, not the last pair)
``rlhf-prompt``     text items: the prompt, shown once above the two completions
``rlhf-text-left``  text items: the left completion (``rlhf-text-right``: the right one)
``rlhf-text-empty`` on both completions while no pair is on screen
``rlhf-legend``     what the marks in the clips mean (Pendulum: the torque arrow)
``rlhf-counter``    "7 / 20 labels" text
``rlhf-progress``   progress bar toward the target
``rlhf-timing``     seconds per label
``rlhf-status``     what to do now / waiting / headless notice / errors
``rlhf-belief``     what the predictor believes about the pair just answered
``rlhf-pair``       "pair #12" of the pair on screen (changes with every new pair)
``rlhf-panel``      a :class:`ConfigPanel`: sliders ``rlhf-param-<field>``, typing boxes ``rlhf-value-<field>``
==================  ==========================================================

Keyboard shortcuts are not offered: ipywidgets has no key events, JavaScript outputs run only in trusted
notebooks, and JupyterLab's command-mode shortcuts (``a``, ``b``, ``d d``, arrow keys, ...) take the keys
first, so shortcuts could not be made reliable without another extension.
"""

from rlhf_lite.widgets.labeling import WidgetLabeler
from rlhf_lite.widgets.panels import ConfigPanel, config_panel
from rlhf_lite.widgets.presence import HEADLESS_ENV_VAR, front_end_evidence, headless_reason, watch_views
from rlhf_lite.widgets.refit import record_answer, refit_in_background
from rlhf_lite.widgets.screen import ANSWER_BUTTONS, ANSWER_WORDS, belief_sentence

__all__ = [
    "ANSWER_BUTTONS",
    "ANSWER_WORDS",
    "HEADLESS_ENV_VAR",
    "ConfigPanel",
    "WidgetLabeler",
    "belief_sentence",
    "config_panel",
    "front_end_evidence",
    "headless_reason",
    "record_answer",
    "refit_in_background",
    "watch_views",
]
