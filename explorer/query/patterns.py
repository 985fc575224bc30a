r"""Regular expressions of `=~` / `!~`, refused when they could backtrack for long.

Tempo runs patterns on Go's RE2, which takes linear time whatever the pattern. Python's `re`
backtracks: `(a+)+$` takes exponential time, `.*a.*a.*b` cubic time, on a value an attacker
(anyone who can send a span) controls. No RE2 binding or `regex` module (with its timeout) is
installed, so a pattern is checked before it is compiled, on the parse tree of `re` itself:

- at most MAX_PATTERN_LENGTH characters;
- no back-references (`\1`, `(?P=name)`, `(?(1)...)`): they make matching NP-hard;
- no quantifier inside a quantified group (`(a+)+`, `(x+y)*`) and no alternation inside a
  quantified group (`(a|ab)*`): the exponential cases;
- at most MAX_VARIABLE_QUANTIFIERS quantifiers of variable count (`*`, `+`, `{2,5}`; not `?`
  or `{3}`): with k of them matching takes up to n^k steps on a value of n characters;
- values longer than MAX_SUBJECT_LENGTH characters are not tested (see explorer.query.evaluate).

With two quantifiers and 16 KiB, the worst case (`.*a.*b` on "aaa…") takes about 40 ms.
Patterns are fully anchored, as in Tempo since 2.7: `=~ "GET .*"` matches the whole value.
"""

from __future__ import annotations

import importlib
import re
from functools import lru_cache
from typing import Any

from explorer.query.messages import english

MAX_PATTERN_LENGTH = 256
MAX_VARIABLE_QUANTIFIERS = 2
MAX_SUBJECT_LENGTH = 16 * 1024

# The parser behind re.compile; private, but the Python version is pinned (3.11) and the tests
# exercise every kind of node this module reads.
_sre: Any = importlib.import_module("re._parser")
_c: Any = importlib.import_module("re._constants")
_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT}
_BACKREFERENCES = {_c.GROUPREF, _c.GROUPREF_EXISTS, _c.GROUPREF_IGNORE}


class UnsafePattern(ValueError):
    """The pattern is not valid, or could take too long: `reason` (a code of
    messages.PATTERN_MESSAGES) and `params` say why, in any language; the message in English."""

    def __init__(self, reason: str, **params: object):
        self.params = {"reason": reason, **{k: str(v) for k, v in params.items()}}
        super().__init__(english("unsafe_pattern", self.params))


def check(pattern: str) -> None:
    """Raise UnsafePattern unless `pattern` compiles and is safe to run (module docstring)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise UnsafePattern("pattern_too_long", length=len(pattern), limit=MAX_PATTERN_LENGTH)
    try:
        tree = _sre.parse(pattern)
        compiled(pattern)
    except re.error as exc:
        raise UnsafePattern("pattern_invalid", detail=exc.msg) from None
    variable = _walk(tree, under_repeat=False)
    if variable > MAX_VARIABLE_QUANTIFIERS:
        raise UnsafePattern("pattern_quantifiers", count=variable, limit=MAX_VARIABLE_QUANTIFIERS)


def _walk(items: Any, under_repeat: bool) -> int:
    """The number of variable-count quantifiers in `items`; raises on the refused shapes."""
    variable = 0
    for op, arg in items:
        if op in _BACKREFERENCES:
            raise UnsafePattern("pattern_backreference")
        if op in _REPEATS:
            low, high, body = arg
            repeats = high > 1
            if repeats and under_repeat:
                raise UnsafePattern("pattern_nested")
            variable += high != low and high > 1
            variable += _walk(body, under_repeat or repeats)
        elif op is _c.BRANCH:
            if under_repeat:
                raise UnsafePattern("pattern_alternatives")
            variable += sum(_walk(branch, under_repeat) for branch in arg[1])
        elif op is _c.SUBPATTERN:
            variable += _walk(arg[-1], under_repeat)
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            variable += _walk(arg[1], under_repeat)
        elif op is _c.ATOMIC_GROUP:
            variable += _walk(arg, under_repeat)
    return variable


@lru_cache(maxsize=256)
def compiled(pattern: str) -> re.Pattern[str]:
    """The pattern with `.` matching newlines too, as Tempo's `^(?s:pattern)$`; callers use
    fullmatch() for the anchoring. Only for patterns that passed check() (the parser does)."""
    return re.compile(pattern, re.DOTALL)
