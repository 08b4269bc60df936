"""Task synthesis: SWE-bench-style tasks made by mutating one function of a real Python project.

``mutations`` finds single-edit bugs with :mod:`ast`; ``project`` turns a directory or a PyPI sdist into a git repo
plus a venv; ``synthesize`` keeps the mutants that real test runs show break ≥ 1 test (and whose revert fixes it);
``default_suite`` prepares the embedded default suite in the cache; ``cli`` adds ``swe-dagger tasks synthesize`` and
``swe-dagger tasks default``.
"""
