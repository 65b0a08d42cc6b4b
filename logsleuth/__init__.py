"""logsleuth: rule-based log analyzer that explains why a GitLab runner stopped working."""
__version__ = "0.1.0"
