"""Tools for rule authors and operators, built on the route stage's pure plan: nothing here sends.

``simulate`` shows what one event would do, ``rule_tests`` runs the rule test cases that ``case_file``
reads and checks, ``render_check`` is ``check --render``, and ``trace`` tells everything that happened to
one object from the store.
"""
