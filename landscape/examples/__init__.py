"""Worked examples: models and losses of your own, as a study file names them (``module:function``)."""
