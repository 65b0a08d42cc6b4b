"""Tools for rule authors at the edge of the pipeline: `rules lint`, `rules test` (examples), the catalogue.

They sit above the stages because proving a rule means running it through all of them (read, match,
findings, report); no stage imports them.
"""
