"""Performance benchmark of the skill backend (issue 9): ``python -m bench`` / ``make bench``.

Method, budgets and history: docs/performance.md.
"""
