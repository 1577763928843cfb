"""Floor 5, what optuna-dashboard shows.

Trial and study notes, and study figures (plotly is imported only when a figure is drawn).
Reads the records that ``storage`` defines.
"""
