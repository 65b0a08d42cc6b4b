"""Findings stage: hits in; correlated matches and aggregated findings (counts, first/last seen, fingerprints) out."""
