"""SWE-bench evaluation support: dataset names, the official images and eval scripts, local-mode virtualenvs."""
