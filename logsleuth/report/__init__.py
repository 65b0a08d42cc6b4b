"""Report stage: a typed Report in; text, Markdown, JSON, Code Quality, JUnit or SARIF out (redacted).

`views` computes what templates show, `filters` escapes values per format, `redact` masks secrets,
`render` drives Jinja over the templates in the top-level `templates/` folder.
"""
